//! Any of our object stores as one of DataFusion's, so the local SQL engine reads
//! tables wherever storage keeps them: local files are scanned in place, other
//! backends (S3) through this bridge, one ranged read per request. Paths are
//! `bucket/key`. The engine only reads through it: CTAS and INSERT write through
//! our store, so every write keeps its atomic-put and grant rules.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    Attributes, CopyOptions, Error, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore as DfObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use futures::StreamExt;
use futures::stream::{self, BoxStream};

use crate::capabilities::storage::ObjectStore;
use crate::capabilities::{CapabilityError, ErrorCode};

const NAME: &str = "engage-storage";

/// The URL tables on a non-local store are scanned under.
pub fn bridge_url() -> ObjectStoreUrl {
    ObjectStoreUrl::parse("engage://storage").expect("a valid URL")
}

/// The path a file of `bucket` has under [`bridge_url`].
pub fn bridge_path(bucket: &str, key: &str) -> String {
    format!("{bucket}/{key}")
}

pub struct StorageBridge {
    store: Arc<dyn ObjectStore>,
}

impl StorageBridge {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    /// Runs a blocking call of the store off the async workers.
    async fn call<T: Send + 'static>(&self, f: impl FnOnce(&dyn ObjectStore) -> Result<T> + Send + 'static) -> Result<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| Error::Generic { store: NAME, source: Box::new(e) })?
    }

    fn read_only(operation: &str) -> Error {
        Error::NotSupported { source: format!("{operation}: the SQL engine writes through engage's storage, not this bridge").into() }
    }
}

impl fmt::Display for StorageBridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NAME)
    }
}

impl fmt::Debug for StorageBridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NAME)
    }
}

fn split(path: &Path) -> Result<(String, String)> {
    match path.as_ref().split_once('/') {
        Some((bucket, key)) if !key.is_empty() => Ok((bucket.to_string(), key.to_string())),
        _ => Err(Error::Generic { store: NAME, source: format!("'{path}' is not bucket/key").into() }),
    }
}

fn store_error(path: &Path, error: CapabilityError) -> Error {
    match error.code {
        ErrorCode::NotFound => Error::NotFound { path: path.to_string(), source: Box::new(error) },
        _ => Error::Generic { store: NAME, source: Box::new(error) },
    }
}

fn meta(path: &Path, size: u64) -> ObjectMeta {
    ObjectMeta { location: path.clone(), last_modified: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH, size, e_tag: None, version: None }
}

#[async_trait]
impl DfObjectStore for StorageBridge {
    async fn put_opts(&self, _: &Path, _: PutPayload, _: PutOptions) -> Result<PutResult> {
        Err(Self::read_only("put"))
    }

    async fn put_multipart_opts(&self, _: &Path, _: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        Err(Self::read_only("multipart put"))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let (bucket, key) = split(location)?;
        let path = location.clone();
        let (size, range, bytes) = self
            .call(move |store| {
                let size = store.head(&bucket, &key).map_err(|e| store_error(&path, e))?.size;
                let range: Range<u64> = match &options.range {
                    Some(range) => range.as_range(size).map_err(|e| Error::Generic { store: NAME, source: Box::new(e) })?,
                    None => 0..size,
                };
                if options.head {
                    return Ok((size, range, Bytes::new()));
                }
                let bytes = store.get_range(&bucket, &key, range.start, range.end - range.start).map_err(|e| store_error(&path, e))?;
                Ok((size, range, Bytes::from(bytes)))
            })
            .await?;
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream::once(async move { Ok(bytes) }).boxed()),
            meta: meta(location, size),
            range,
            attributes: Attributes::default(),
        })
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        locations.map(|_| Err(Self::read_only("delete"))).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let store = self.store.clone();
        let prefix = prefix.cloned();
        let listed = tokio::task::spawn_blocking(move || {
            let prefix = prefix.ok_or_else(|| Error::Generic { store: NAME, source: "listing needs a bucket".into() })?;
            let text = prefix.as_ref();
            let (bucket, key_prefix) = text.split_once('/').map_or((text, String::new()), |(b, k)| (b, format!("{k}/")));
            let objects = store.list_all(bucket, &key_prefix).map_err(|e| store_error(&prefix, e))?;
            Ok::<_, Error>(objects.into_iter().map(|o| Ok(meta(&Path::from(bridge_path(bucket, &o.key)), o.size))).collect::<Vec<_>>())
        });
        stream::once(async move {
            match listed.await {
                Ok(Ok(items)) => stream::iter(items).boxed(),
                Ok(Err(e)) => stream::iter(vec![Err(e)]).boxed(),
                Err(e) => stream::iter(vec![Err(Error::Generic { store: NAME, source: Box::new(e) })]).boxed(),
            }
        })
        .flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, _: Option<&Path>) -> Result<ListResult> {
        Err(Error::NotSupported { source: "listing by delimiter: tables are listed through the catalog".into() })
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> Result<()> {
        Err(Self::read_only("copy"))
    }
}
