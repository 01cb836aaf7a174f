//! The token streams of language modelling: the corpus cut into `bsz` columns (batchify), bptt
//! windows over it, one epoch's teacher windows, the student's wrapping cursor, and a
//! data-parallel rank's columns.

use tch::{Device, Tensor};

use crate::dist::Dist;

/// Token ids `[rows, bsz]`: the stream cut into `bsz` contiguous columns (the reference's batchify).
pub fn batchify(ids: &[u32], bsz: usize, device: Device) -> Tensor {
    let rows = ids.len() / bsz;
    let flat: Vec<i64> = ids[..rows * bsz].iter().map(|&i| i as i64).collect();
    Tensor::from_slice(&flat).view([bsz as i64, rows as i64]).tr().contiguous().to_device(device)
}

/// The window at row `i`: inputs `[len, bsz]` and next-token targets `[len·bsz]`,
/// len = min(bptt, rows − 1 − i).
pub fn window(data: &Tensor, i: i64, bptt: i64) -> (Tensor, Tensor) {
    let rows = data.size()[0];
    let len = bptt.min(rows - 1 - i);
    (data.narrow(0, i, len), data.narrow(0, i + 1, len).reshape([-1]))
}

/// Start rows of one epoch's teacher windows.
pub fn epoch_windows(rows: i64, bptt: i64) -> Vec<i64> {
    (0..rows - 1).step_by(bptt as usize).collect()
}

/// The student's cursor: advances by bptt and wraps at rows − 1, as the LSTM references'
/// `current_index` (the Transformer-XL reference advances by the window's length instead).
pub fn advance_cursor(cursor: i64, rows: i64, bptt: i64) -> i64 {
    (cursor + bptt) % (rows - 1)
}


/// This rank's columns of a batchified split (`[rows, W·B]` → `[rows, B]`): a contiguous range
/// of the token stream per column, the W ranks together the single process's batch.
pub fn columns(data: &Tensor, d: Option<&Dist>) -> Tensor {
    match d {
        Some(d) if d.world > 1 => {
            let b = data.size()[1] / d.world as i64;
            data.narrow(1, d.rank as i64 * b, b).contiguous()
        }
        _ => data.shallow_clone(),
    }
}

