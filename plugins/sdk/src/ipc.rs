//! Arrow IPC stream bytes in and out of the guest.

use arrow_array::RecordBatch;
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
    let estimate: usize = batches.iter().map(|b| b.get_array_memory_size()).sum::<usize>() + 4096;
    let mut writer =
        StreamWriter::try_new(Vec::with_capacity(estimate), schema).map_err(|e| format!("encoding output: {e}"))?;
    for batch in batches {
        writer.write(batch).map_err(|e| format!("encoding output: {e}"))?;
    }
    writer.finish().map_err(|e| format!("encoding output: {e}"))?;
    writer.into_inner().map_err(|e| format!("encoding output: {e}"))
}
