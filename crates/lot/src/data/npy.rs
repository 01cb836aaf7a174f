//! A reader for NumPy's `.npy` format (and `.npz`, a zip of `.npy` files): enough for image
//! arrays and labels. Format: the magic `\x93NUMPY`, a version byte pair, the header length
//! (u16 in version 1, u32 in 2 and 3), then a Python dict literal
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (N, H, W), }` and the raw C-order data.
//!
//! Every problem is an input error naming the file (and the array, inside an `.npz`); no input
//! bytes can panic: sizes are checked with overflow-safe arithmetic before anything is read.

use std::io::Read;
use std::path::Path;

use anyhow::Result;

use crate::bail_input;
use crate::error::input_err;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// An array's elements, widened to one of three storage types.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    U8(Vec<u8>),
    /// float32 as is, float64 rounded to float32.
    F32(Vec<f32>),
    /// Every integer dtype other than uint8 (uint64 values above i64::MAX are an error).
    I64(Vec<i64>),
}

impl NpyData {
    pub fn len(&self) -> usize {
        match self {
            NpyData::U8(v) => v.len(),
            NpyData::F32(v) => v.len(),
            NpyData::I64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    /// The dtype as the file spells it, e.g. `<f4`, for messages.
    pub descr: String,
    pub data: NpyData,
}

/// Element types we read: (kind, bytes per element).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Elem {
    Uint(usize),
    Int(usize),
    Float(usize),
}

/// Read a `.npy` file.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|e| input_err(format!("data: cannot read {}: {e}", path.display())))?;
    parse_npy(&bytes).map_err(|e| input_err(format!("data: {}: {e}", path.display())))
}

/// Read the arrays `names` (e.g. `["x", "y"]`, stored as `x.npy`, `y.npy`) from an `.npz` file.
pub fn read_npz(path: &Path, names: &[&str]) -> Result<Vec<NpyArray>> {
    let file = std::fs::File::open(path).map_err(|e| input_err(format!("data: cannot read {}: {e}", path.display())))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| input_err(format!("data: {}: not a valid .npz (zip) file: {e}", path.display())))?;
    let mut out = Vec::new();
    let mut have: Vec<String> = zip.file_names().filter_map(|n| n.strip_suffix(".npy")).map(String::from).collect();
    have.sort();
    for name in names {
        let entry = format!("{name}.npy");
        let mut f = match zip.by_name(&entry) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => {
                bail_input!(
                    "data: {}: no array '{name}' (arrays in the file: {}); save it with np.savez(path, x=..., y=...)",
                    path.display(),
                    if have.is_empty() { "none".to_string() } else { have.join(", ") }
                );
            }
            Err(e) => bail_input!("data: {}: array '{name}': {e}", path.display()),
        };
        // The declared size bounds the read: a corrupt entry cannot make us allocate without end.
        let declared = f.size();
        let mut bytes = Vec::with_capacity(declared.min(1 << 30) as usize);
        (&mut f)
            .take(declared)
            .read_to_end(&mut bytes)
            .map_err(|e| input_err(format!("data: {}: array '{name}': corrupt data: {e}", path.display())))?;
        out.push(parse_npy(&bytes).map_err(|e| input_err(format!("data: {}: array '{name}': {e}", path.display())))?);
    }
    Ok(out)
}

/// Parse `.npy` bytes. Errors say what is wrong, without the file name (the callers add it).
pub fn parse_npy(b: &[u8]) -> Result<NpyArray, String> {
    if b.len() < 10 || &b[..6] != MAGIC {
        return Err("not a .npy array (no \\x93NUMPY magic)".into());
    }
    let (major, minor) = (b[6], b[7]);
    let (len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        2 | 3 => return Err("file too short for its header".into()),
        _ => return Err(format!(".npy version {major}.{minor} is not supported (1.0, 2.0 and 3.0 are)")),
    };
    let end = start.checked_add(len).filter(|&e| e <= b.len()).ok_or("file too short for its header")?;
    let header = std::str::from_utf8(&b[start..end]).map_err(|_| "header is not text")?;
    let dict = parse_dict(header).map_err(|e| format!("bad header {:?}: {e}", header.trim_end()))?;
    let descr = dict.descr.ok_or("header has no 'descr'")?;
    let shape = dict.shape.ok_or("header has no 'shape'")?;
    if dict.fortran_order.ok_or("header has no 'fortran_order'")? {
        return Err("fortran_order is True; save a C-order array (np.ascontiguousarray)".into());
    }
    let elem = parse_descr(&descr)?;
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("shape overflows")?;
    let size = match elem {
        Elem::Uint(s) | Elem::Int(s) | Elem::Float(s) => s,
    };
    let nbytes = count.checked_mul(size).ok_or("shape overflows")?;
    let body = &b[end..];
    if body.len() != nbytes {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        return Err(format!(
            "shape ({}) of {descr} needs {nbytes} data bytes but the file has {} ({})",
            dims.join(", "),
            body.len(),
            if body.len() < nbytes { "truncated" } else { "trailing bytes" }
        ));
    }
    let data = decode(body, elem)?;
    Ok(NpyArray { shape, descr, data })
}

fn parse_descr(d: &str) -> Result<Elem, String> {
    let unsupported = || format!("dtype '{d}' is not supported (use uint8, float32, float64 or an integer type)");
    if !d.is_ascii() {
        return Err(unsupported()); // and byte slicing below stays on char boundaries
    }
    let (order, code) = d.split_at(d.len().min(1));
    let code_ok = matches!(order, "<" | "|" | "=");
    if order == ">" {
        return Err(format!("dtype '{d}' is big-endian; save little-endian data (arr.astype('<{}'))", &d[1..]));
    }
    if !code_ok || code.len() < 2 {
        return Err(unsupported());
    }
    let size: usize = code[1..].parse().map_err(|_| unsupported())?;
    match (&code[..1], size) {
        ("u", 1 | 2 | 4 | 8) => Ok(Elem::Uint(size)),
        ("i", 1 | 2 | 4 | 8) => Ok(Elem::Int(size)),
        ("f", 4 | 8) => Ok(Elem::Float(size)),
        ("b", 1) => Ok(Elem::Uint(1)), // bool: 0 or 1
        _ => Err(unsupported()),
    }
}

fn decode(body: &[u8], elem: Elem) -> Result<NpyData, String> {
    Ok(match elem {
        Elem::Uint(1) => NpyData::U8(body.to_vec()),
        Elem::Float(4) => NpyData::F32(body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()),
        Elem::Float(_) => NpyData::F32(body.chunks_exact(8).map(|c| f64::from_le_bytes(le8(c)) as f32).collect()),
        Elem::Int(s) | Elem::Uint(s) => {
            let signed = matches!(elem, Elem::Int(_));
            let mut out = Vec::with_capacity(body.len() / s);
            for c in body.chunks_exact(s) {
                // Sign- or zero-extend the little-endian bytes to 8.
                let fill = if signed && c[s - 1] & 0x80 != 0 { 0xff } else { 0 };
                let mut w = [fill; 8];
                w[..s].copy_from_slice(c);
                let v = i64::from_le_bytes(w);
                if !signed && s == 8 && v < 0 {
                    return Err(format!("uint64 value {} does not fit an int64", u64::from_le_bytes(w)));
                }
                out.push(v);
            }
            NpyData::I64(out)
        }
    })
}

fn le8(c: &[u8]) -> [u8; 8] {
    [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]
}

#[derive(Default)]
struct Dict {
    descr: Option<String>,
    fortran_order: Option<bool>,
    shape: Option<Vec<usize>>,
}

/// The header dict: `{'key': value, ...}` with string, bool and int-tuple values (what NumPy
/// writes). Unknown keys are an error, as in NumPy.
fn parse_dict(s: &str) -> Result<Dict, String> {
    let mut p = Cursor { s: s.as_bytes(), i: 0 };
    let mut d = Dict::default();
    p.expect(b'{')?;
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.ws();
        p.expect(b':')?;
        p.ws();
        match key.as_str() {
            "descr" => d.descr = Some(p.string()?),
            "fortran_order" => d.fortran_order = Some(p.boolean()?),
            "shape" => d.shape = Some(p.tuple()?),
            k => return Err(format!("unknown key '{k}'")),
        }
        p.ws();
        if !p.eat(b',') {
            p.ws();
            p.expect(b'}')?;
            break;
        }
    }
    p.ws();
    if p.i != p.s.len() {
        return Err("text after the dict".into());
    }
    Ok(d)
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{}' at offset {}", c as char, self.i))
        }
    }
    fn string(&mut self) -> Result<String, String> {
        let q = *self.s.get(self.i).ok_or("unexpected end")?;
        if q != b'\'' && q != b'"' {
            return Err(format!("expected a string at offset {}", self.i));
        }
        let start = self.i + 1;
        let len = self.s[start..].iter().position(|&c| c == q).ok_or("unterminated string")?;
        self.i = start + len + 1;
        Ok(String::from_utf8_lossy(&self.s[start..start + len]).into_owned())
    }
    fn boolean(&mut self) -> Result<bool, String> {
        for (word, v) in [("True", true), ("False", false)] {
            if self.s[self.i..].starts_with(word.as_bytes()) {
                self.i += word.len();
                return Ok(v);
            }
        }
        Err(format!("expected True or False at offset {}", self.i))
    }
    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            self.ws();
            if self.eat(b')') {
                return Ok(dims);
            }
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
            let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
            // Python 2 era files may write 3L.
            self.eat(b'L');
            dims.push(digits.parse::<usize>().map_err(|_| format!("bad dimension at offset {start}"))?);
            self.ws();
            if !self.eat(b',') {
                self.ws();
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

/// `.npy` bytes for tests (version 1.0, padded as NumPy pads the header).
#[cfg(test)]
pub fn npy_bytes(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut b = MAGIC.to_vec();
    b.extend_from_slice(&[1, 0]);
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    b.extend_from_slice(data);
    b
}

/// An `.npz` (zip of `.npy`) for tests; `deflate` as np.savez_compressed, else stored as np.savez.
#[cfg(test)]
pub fn npz_bytes(arrays: &[(&str, Vec<u8>)], deflate: bool) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
    for (name, bytes) in arrays {
        w.start_file(format!("{name}.npy"), zip::write::FileOptions::default().compression_method(method)).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn reads_every_supported_dtype() {
        let a = parse_npy(&npy_bytes("|u1", &[2, 3], &[0, 1, 2, 253, 254, 255])).unwrap();
        assert_eq!((a.shape, a.data), (vec![2, 3], NpyData::U8(vec![0, 1, 2, 253, 254, 255])));
        let a = parse_npy(&npy_bytes("<f4", &[3], &f32s(&[0.5, -1.0, 3.25]))).unwrap();
        assert_eq!(a.data, NpyData::F32(vec![0.5, -1.0, 3.25]));
        let f8: Vec<u8> = [0.25f64, 1e3].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(parse_npy(&npy_bytes("<f8", &[2], &f8)).unwrap().data, NpyData::F32(vec![0.25, 1000.0]));
        let i8s: Vec<u8> = [-3i64, 7].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(parse_npy(&npy_bytes("<i8", &[2], &i8s)).unwrap().data, NpyData::I64(vec![-3, 7]));
        let i4s: Vec<u8> = [-1i32, 9].iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(parse_npy(&npy_bytes("<i4", &[2], &i4s)).unwrap().data, NpyData::I64(vec![-1, 9]));
        assert_eq!(parse_npy(&npy_bytes("|i1", &[2], &[0xff, 4])).unwrap().data, NpyData::I64(vec![-1, 4]));
        assert_eq!(parse_npy(&npy_bytes("<u2", &[1], &[0xff, 0xff])).unwrap().data, NpyData::I64(vec![65535]));
        // A 0-d array has one element; a zero dimension none.
        assert_eq!(parse_npy(&npy_bytes("|u1", &[], &[5])).unwrap().data, NpyData::U8(vec![5]));
        assert!(parse_npy(&npy_bytes("|u1", &[0, 4], &[])).unwrap().data.is_empty());
    }

    #[test]
    fn rejects_bad_arrays_clearly() {
        let e = |b: &[u8]| parse_npy(b).unwrap_err();
        assert!(e(b"PK\x03\x04 not npy").contains("magic"));
        assert!(e(&npy_bytes(">f4", &[1], &[0; 4])).contains("big-endian"));
        assert!(e(&npy_bytes("<c8", &[1], &[0; 8])).contains("'<c8' is not supported"));
        assert!(e(&npy_bytes("<U3", &[1], &[0; 12])).contains("not supported"));
        let m = e(&npy_bytes("|u1", &[2, 3], &[0; 5]));
        assert!(m.contains("(2, 3)") && m.contains("6 data bytes") && m.contains("truncated"), "{m}");
        assert!(e(&npy_bytes("|u1", &[2], &[0; 3])).contains("trailing"));
        let mut fortran = npy_bytes("|u1", &[1], &[0]);
        let at = fortran.windows(5).position(|w| w == b"False").unwrap();
        fortran[at..at + 5].copy_from_slice(b"True ");
        assert!(e(&fortran).contains("fortran_order"));
        assert!(e(&npy_bytes("|u1", &[usize::MAX, 3], &[])).contains("overflows"));
        // Truncated anywhere in the header: an error, never a panic.
        let good = npy_bytes("<f4", &[2, 2], &[0; 16]);
        for cut in 0..good.len() {
            assert!(parse_npy(&good[..cut]).is_err(), "cut {cut}");
        }
        let mut v9 = good.clone();
        v9[6] = 9;
        assert!(e(&v9).contains("version 9"));
    }

    /// Random byte flips, insertions and cuts of valid arrays: errors, never panics.
    #[test]
    fn mutated_arrays_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let seeds = [npy_bytes("<f4", &[2, 3], &[0; 24]), npy_bytes("|u1", &[4], &[1, 2, 3, 4]), npy_bytes("<i8", &[1, 1], &[7; 8])];
        for _ in 0..5000 {
            let mut b = seeds[rng.gen_range(0..seeds.len())].clone();
            for _ in 0..rng.gen_range(1..4) {
                if b.is_empty() {
                    break;
                }
                let at = rng.gen_range(0..b.len());
                match rng.gen_range(0..3) {
                    0 => b[at] = rng.gen(),
                    1 => b.insert(at, *b"(),'0123456789 TrueFalse<>|uif"[..].get(rng.gen_range(0..29)).unwrap()),
                    _ => b.truncate(at),
                }
            }
            let _ = parse_npy(&b);
        }
    }

    #[test]
    fn npz_stored_and_deflated() {
        let d = tempfile::tempdir().unwrap();
        let x = npy_bytes("|u1", &[2, 2], &[1, 2, 3, 4]);
        let y = npy_bytes("<i8", &[2], &[[0u8; 8], [1, 0, 0, 0, 0, 0, 0, 0]].concat());
        for deflate in [false, true] {
            let p = d.path().join("a.npz");
            std::fs::write(&p, npz_bytes(&[("x", x.clone()), ("y", y.clone())], deflate)).unwrap();
            let arrs = read_npz(&p, &["x", "y"]).unwrap();
            assert_eq!(arrs[0].data, NpyData::U8(vec![1, 2, 3, 4]));
            assert_eq!(arrs[1].data, NpyData::I64(vec![0, 1]));
            let m = crate::testing::input_error_text(read_npz(&p, &["images"]).unwrap_err());
            assert!(m.contains("a.npz") && m.contains("no array 'images'") && m.contains("x, y"), "{m}");
        }
        let p = d.path().join("bad.npz");
        std::fs::write(&p, b"not a zip at all").unwrap();
        let m = crate::testing::input_error_text(read_npz(&p, &["x"]).unwrap_err());
        assert!(m.contains("bad.npz") && m.contains("not a valid .npz"), "{m}");
    }
}
