//! The WIT `storage` interface for one guest: check the key and the grant, then
//! call the backend. A malformed key or one outside the grants stops the guest.

use std::sync::Arc;

use wasmtime::component::{HasData, Resource, ResourceTable};

use super::{ObjectStore, ObjectWriter, validate_bucket, validate_key, validate_prefix};
use crate::capabilities::grants::{Denied, Grants};
use crate::capabilities::trace::{self, Size, Tracer};
use crate::runtime::bindings::storage::{self, ListPage};
use crate::runtime::bindings::types::ObjectInfo;
use crate::runtime::errors::{HostError, OutputLimitExceeded};

/// Per-guest state of the storage capability.
pub struct StorageHost {
    stage: String,
    grants: Arc<Grants>,
    store: Arc<dyn ObjectStore>,
    output_limit: usize,
    table: ResourceTable,
    tracer: Option<Tracer>,
}

/// The host side of a guest's `writer` resource.
pub struct WriterHandle {
    /// `None` once finished; the guest still owns the handle until it drops it.
    inner: Option<Box<dyn ObjectWriter>>,
    what: String,
    written: usize,
}

pub struct HasStorage;

impl HasData for HasStorage {
    type Data<'a> = &'a mut StorageHost;
}

impl StorageHost {
    pub fn new(stage: &str, grants: Arc<Grants>, store: Arc<dyn ObjectStore>, output_limit: usize) -> Self {
        Self { stage: stage.to_string(), grants, store, output_limit, table: ResourceTable::new(), tracer: None }
    }

    /// Reports every call to `tracer` (`--trace`).
    pub fn traced(mut self, tracer: Option<Tracer>) -> Self {
        self.tracer = tracer;
        self
    }

    fn denied(&self, detail: String) -> HostError {
        Denied { stage: self.stage.clone(), capability: "storage", detail }.into()
    }

    /// Validates the bucket and key and checks the grant.
    fn authorize(&self, bucket: &str, key: &str, write: bool) -> Result<(), HostError> {
        validate_bucket(bucket).map_err(|e| self.denied(e))?;
        validate_key(key).map_err(|e| self.denied(e))?;
        Ok(self.grants.check_storage(&self.stage, bucket, key, write)?)
    }

    fn check_output(&self, what: String, size: usize) -> Result<(), HostError> {
        if size > self.output_limit {
            return Err(HostError::Trap(wasmtime::Error::new(OutputLimitExceeded { what, size, limit: self.output_limit })));
        }
        Ok(())
    }
}

impl crate::runtime::bindings::types::Host for StorageHost {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<crate::runtime::bindings::types::Error> {
        crate::runtime::convert_host_error(err)
    }
}

impl storage::Host for StorageHost {
    fn get(&mut self, bucket: String, key: String) -> Result<Vec<u8>, HostError> {
        let tracer = self.tracer.clone();
        trace::call(tracer.as_ref(), "storage.get", Size::bytes(bucket.len() + key.len()), || {
            self.authorize(&bucket, &key, false)?;
            let size = self.store.head(&bucket, &key)?.size as usize;
            if size > self.output_limit {
                return Err(crate::capabilities::CapabilityError::limit(format!(
                    "{bucket}/{key} is {size} bytes, over the read limit of {} bytes: read it with get-range",
                    self.output_limit
                ))
                .into());
            }
            let data = self.store.get(&bucket, &key)?;
            let size = Size::bytes(data.len());
            Ok((data, size))
        })
    }

    fn get_range(&mut self, bucket: String, key: String, offset: u64, length: u64) -> Result<Vec<u8>, HostError> {
        let tracer = self.tracer.clone();
        trace::call(tracer.as_ref(), "storage.get-range", Size::bytes(bucket.len() + key.len() + 16), || {
            self.authorize(&bucket, &key, false)?;
            let length = length.min(self.output_limit as u64);
            let data = self.store.get_range(&bucket, &key, offset, length)?;
            let size = Size::bytes(data.len());
            Ok((data, size))
        })
    }

    fn head(&mut self, bucket: String, key: String) -> Result<ObjectInfo, HostError> {
        let tracer = self.tracer.clone();
        trace::call(tracer.as_ref(), "storage.head", Size::bytes(bucket.len() + key.len()), || {
            self.authorize(&bucket, &key, false)?;
            let info = self.store.head(&bucket, &key)?;
            let size = Size::bytes(info.key.len() + 8);
            Ok((ObjectInfo { key: info.key, size: info.size }, size))
        })
    }

    fn put(&mut self, bucket: String, key: String, data: Vec<u8>) -> Result<(), HostError> {
        let tracer = self.tracer.clone();
        trace::call(tracer.as_ref(), "storage.put", Size::bytes(bucket.len() + key.len() + data.len()), || {
            self.authorize(&bucket, &key, true)?;
            self.check_output(format!("object {bucket}/{key}"), data.len())?;
            self.store.put(&bucket, &key, &data)?;
            Ok(((), Size::default()))
        })
    }

    fn open_writer(&mut self, bucket: String, key: String) -> Result<Resource<WriterHandle>, HostError> {
        let tracer = self.tracer.clone();
        trace::call(tracer.as_ref(), "storage.open-writer", Size::bytes(bucket.len() + key.len()), || {
            self.authorize(&bucket, &key, true)?;
            let inner = self.store.open_writer(&bucket, &key)?;
            let handle = WriterHandle { inner: Some(inner), what: format!("object {bucket}/{key}"), written: 0 };
            let handle = self.table.push(handle).map_err(|e| HostError::Trap(wasmtime::Error::new(e)))?;
            Ok((handle, Size::default()))
        })
    }

    fn list(&mut self, bucket: String, prefix: String, continuation: Option<String>, max_keys: u32) -> Result<ListPage, HostError> {
        let tracer = self.tracer.clone();
        let args = Size::bytes(bucket.len() + prefix.len() + continuation.as_ref().map_or(0, |c| c.len()) + 4);
        trace::call(tracer.as_ref(), "storage.list", args, || {
            validate_bucket(&bucket).map_err(|e| self.denied(e))?;
            validate_prefix(&prefix).map_err(|e| self.denied(e))?;
            self.grants.check_storage(&self.stage, &bucket, &prefix, false)?;
            let page = self.store.list(&bucket, &prefix, continuation.as_deref(), max_keys.clamp(1, 1000) as usize)?;
            let bytes = page.objects.iter().map(|o| o.key.len() + 8).sum::<usize>() + page.next_token.as_ref().map_or(0, |t| t.len());
            let size = Size::table(page.objects.len(), bytes);
            let page = ListPage {
                objects: page.objects.into_iter().map(|o| ObjectInfo { key: o.key, size: o.size }).collect(),
                next_token: page.next_token,
            };
            Ok((page, size))
        })
    }

    fn delete(&mut self, bucket: String, key: String) -> Result<(), HostError> {
        let tracer = self.tracer.clone();
        trace::call(tracer.as_ref(), "storage.delete", Size::bytes(bucket.len() + key.len()), || {
            self.authorize(&bucket, &key, true)?;
            self.store.delete(&bucket, &key)?;
            Ok(((), Size::default()))
        })
    }
}

impl storage::HostWriter for StorageHost {
    fn write(&mut self, writer: Resource<WriterHandle>, chunk: Vec<u8>) -> Result<(), HostError> {
        let tracer = self.tracer.clone();
        trace::call(tracer.as_ref(), "storage.writer.write", Size::bytes(chunk.len()), || {
            let limit = self.output_limit;
            let handle = self.table.get_mut(&writer).map_err(|e| HostError::Trap(wasmtime::Error::new(e)))?;
            handle.written += chunk.len();
            if handle.written > limit {
                let (what, size) = (handle.what.clone(), handle.written);
                return Err(HostError::Trap(wasmtime::Error::new(OutputLimitExceeded { what, size, limit })));
            }
            let what = handle.what.clone();
            let inner = handle.inner.as_mut().ok_or_else(|| finished(&what))?;
            inner.write(&chunk)?;
            Ok(((), Size::default()))
        })
    }

    fn finish(&mut self, writer: Resource<WriterHandle>) -> Result<ObjectInfo, HostError> {
        let tracer = self.tracer.clone();
        trace::call(tracer.as_ref(), "storage.writer.finish", Size::default(), || {
            let handle = self.table.get_mut(&writer).map_err(|e| HostError::Trap(wasmtime::Error::new(e)))?;
            let inner = handle.inner.take().ok_or_else(|| finished(&handle.what))?;
            let info = inner.finish()?;
            let size = Size::bytes(info.key.len() + 8);
            Ok((ObjectInfo { key: info.key, size: info.size }, size))
        })
    }

    fn drop(&mut self, writer: Resource<WriterHandle>) -> wasmtime::Result<()> {
        // Dropping an unfinished writer discards what it wrote (its Drop cleans up).
        self.table.delete(writer)?;
        Ok(())
    }
}

fn finished(what: &str) -> HostError {
    crate::capabilities::CapabilityError::invalid(format!("the writer for {what} is already finished")).into()
}
