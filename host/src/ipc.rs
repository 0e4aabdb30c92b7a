//! Arrow IPC stream bytes: how tables cross the WebAssembly boundary.

use arrow::array::RecordBatch;
use arrow::buffer::Buffer;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::ipc::reader::StreamDecoder;
use arrow::ipc::writer::StreamWriter;

/// Encodes batches as one IPC stream, sizing the buffer up front so large
/// batches are written without reallocation.
pub fn encode(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, ArrowError> {
    // Each buffer is padded to 64 bytes; the schema and batch headers take a few hundred per column.
    let estimate: usize =
        batches.iter().map(|b| batch_bytes(b) + b.num_columns() * 512).sum::<usize>() + 1024;
    let mut writer = StreamWriter::try_new(Vec::with_capacity(estimate), schema)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    writer.into_inner()
}

/// The Arrow data of a batch's rows. (`get_array_memory_size` would count the
/// whole table a sliced batch comes from.)
pub fn batch_bytes(batch: &RecordBatch) -> usize {
    batch.columns().iter().map(|c| c.to_data().get_slice_memory_size().unwrap_or_else(|_| c.get_array_memory_size())).sum()
}

/// Decodes an IPC stream without copying the column data out of `bytes`.
pub fn decode(bytes: Vec<u8>) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
    let mut decoder = StreamDecoder::new();
    let mut buffer = Buffer::from_vec(bytes);
    let mut batches = Vec::new();
    while !buffer.is_empty() {
        match decoder.decode(&mut buffer)? {
            Some(batch) => batches.push(batch),
            None => continue,
        }
    }
    decoder.finish()?;
    let schema = decoder
        .schema()
        .ok_or_else(|| ArrowError::IpcError("the IPC stream has no schema message".into()))?;
    Ok((schema, batches))
}
