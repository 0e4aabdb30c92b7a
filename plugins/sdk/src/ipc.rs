//! Arrow IPC stream bytes in and out of the guest.

use arrow_array::{Array, RecordBatch};
use arrow_buffer::Buffer;
use arrow_ipc::reader::StreamDecoder;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::SchemaRef;

/// Decodes an IPC stream into one batch (concatenating if the host sent several),
/// reading column data in place rather than copying it.
pub fn decode(bytes: Vec<u8>) -> Result<(SchemaRef, Vec<RecordBatch>), String> {
    let mut decoder = StreamDecoder::new();
    let mut buffer = Buffer::from_vec(bytes);
    let mut batches = Vec::new();
    while !buffer.is_empty() {
        if let Some(batch) = decoder.decode(&mut buffer).map_err(|e| format!("bad Arrow IPC input: {e}"))? {
            batches.push(batch);
        }
    }
    decoder.finish().map_err(|e| format!("truncated Arrow IPC input: {e}"))?;
    let schema = decoder.schema().ok_or("Arrow IPC input has no schema")?;
    Ok((schema, batches))
}

/// Encodes batches as one IPC stream into a buffer sized up front.
pub fn encode(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, String> {
    // Each buffer is padded to 64 bytes; the schema and batch headers take a few hundred per column.
    let estimate = batches.iter().map(|b| data_bytes(b) + b.num_columns() * 512).sum::<usize>() + 1024;
    let mut writer =
        StreamWriter::try_new(Vec::with_capacity(estimate), schema).map_err(|e| format!("encoding output: {e}"))?;
    for batch in batches {
        writer.write(batch).map_err(|e| format!("encoding output: {e}"))?;
    }
    writer.finish().map_err(|e| format!("encoding output: {e}"))?;
    writer.into_inner().map_err(|e| format!("encoding output: {e}"))
}

/// The Arrow data of a batch's rows. `get_array_memory_size` would count every
/// buffer a column shares, e.g. the whole input stream for a null mask taken from
/// an input column, and reserve that much guest memory for the output.
fn data_bytes(batch: &RecordBatch) -> usize {
    batch.columns().iter().map(|c| c.to_data().get_slice_memory_size().unwrap_or_else(|_| c.get_array_memory_size())).sum()
}
