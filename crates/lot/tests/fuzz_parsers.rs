//! Bounded property tests ("fuzzing" on stable, inside `cargo test`) of every parser that reads
//! user-supplied bytes: the IDX and CIFAR readers, the corpus reader and its token cache, and
//! the config parser. Each target feeds many random and mutated inputs from a seeded RNG (bit
//! flips, truncations, extensions, random headers, huge declared sizes) and asserts:
//!
//! * no panic (`catch_unwind`),
//! * errors are `Err` with a non-empty, one-line message that the CLI reports as bad input
//!   (exit code 2),
//! * what is accepted is consistent (sizes agree, labels and token ids in range).
//!
//! Iteration counts (not wall-clock time) bound each target to a few seconds in release mode.
//! Failing inputs are written to `$TMPDIR/lot-fuzz-failures/` and listed in the panic message.
//! Set `LOT_FUZZ_SCALE=10` for a longer run.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use lot::config::Config;
use lot::data::image::{load_dataset, read_idx_images, read_idx_labels, DatasetKind, Split};
use lot::error::is_input_error;
use lot::text::corpus::{load_cached, load_corpus, CorpusKind, VocabRules};

// ---- harness ----

fn scale(n: usize) -> usize {
    let s: usize = std::env::var("LOT_FUZZ_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    n * s.max(1)
}

static PANIC_MSG: Mutex<Option<String>> = Mutex::new(None);

thread_local! {
    static FUZZING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A panic hook that keeps quiet inside `check` (the panic is reported as a finding there).
fn install_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if FUZZING.with(|f| f.get()) {
                let loc = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                *PANIC_MSG.lock().unwrap() = Some(format!("{msg}{loc}"));
            } else {
                default(info);
            }
        }));
    });
}

struct Findings {
    target: &'static str,
    list: Vec<String>,
    ok: usize,
    err: usize,
}

impl Findings {
    fn new(target: &'static str) -> Self {
        install_hook();
        Findings { target, list: Vec::new(), ok: 0, err: 0 }
    }

    /// Save the input files of a finding; returns where.
    fn save(&self, iter: usize, inputs: &[(&str, &[u8])]) -> String {
        let dir = std::env::temp_dir().join("lot-fuzz-failures").join(format!("{}-{iter}", self.target));
        let _ = std::fs::create_dir_all(&dir);
        for (name, bytes) in inputs {
            let _ = std::fs::write(dir.join(name), bytes);
        }
        dir.display().to_string()
    }

    /// Run `f`; a panic, a bad error or a failed `accept` check on the result is a finding.
    fn check<T>(&mut self, iter: usize, inputs: &[(&str, &[u8])], f: impl FnOnce() -> Result<T>, accept: impl FnOnce(&T) -> Result<(), String>) {
        FUZZING.with(|c| c.set(true));
        // The checks on an accepted value run inside catch_unwind too (they may call library code).
        let r = catch_unwind(AssertUnwindSafe(|| f().map(|v| accept(&v))));
        FUZZING.with(|c| c.set(false));
        let problem = match r {
            Err(_) => Some(format!("panic: {}", PANIC_MSG.lock().unwrap().take().unwrap_or_default())),
            Ok(Ok(checked)) => {
                self.ok += 1;
                checked.err().map(|e| format!("accepted an inconsistent input: {e}"))
            }
            Ok(Err(e)) => {
                self.err += 1;
                let msg = format!("{e:#}");
                if msg.trim().is_empty() {
                    Some("empty error message".into())
                } else if msg.contains('\n') || msg.contains('\r') {
                    Some(format!("multi-line error message: {msg:?}"))
                } else if !is_input_error(&e) {
                    Some(format!("error is not an input error (exit code 1 instead of 2): {msg}"))
                } else {
                    None
                }
            }
        };
        if let Some(p) = problem {
            // Keep the report short: at most 20 findings per target, each with its saved input.
            if self.list.len() < 20 {
                let at = self.save(iter, inputs);
                self.list.push(format!("[{} #{iter}] {p} (input saved in {at})", self.target));
            }
        }
    }

    fn finish(self, min_ok: usize, min_err: usize) {
        eprintln!("{}: {} accepted, {} rejected, {} findings", self.target, self.ok, self.err, self.list.len());
        assert!(self.list.is_empty(), "{} findings:\n{}", self.list.len(), self.list.join("\n"));
        // The generators must exercise both sides, or the target tests little.
        assert!(self.ok >= min_ok, "{}: only {} inputs accepted", self.target, self.ok);
        assert!(self.err >= min_err, "{}: only {} inputs rejected", self.target, self.err);
    }
}

// ---- mutators ----

const INTERESTING_U32: [u32; 10] = [0, 1, 2, 3, 0x7f, 0xff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff];
const INTERESTING_U64: [u64; 8] = [0, 1, 3, 0xffff_ffff, 1 << 32, 1 << 62, u64::MAX / 4 + 1, u64::MAX];

fn random_bytes(rng: &mut ChaCha8Rng, max: usize) -> Vec<u8> {
    let n = rng.gen_range(0..=max);
    (0..n).map(|_| rng.gen()).collect()
}

/// 1–4 random edits of `base`: bit flips, byte sets, truncation, extension, insertion,
/// deletion, duplication, and big-/little-endian u32/u64 fields set to extreme values
/// (huge declared sizes).
fn mutate(rng: &mut ChaCha8Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let len = v.len();
        match rng.gen_range(0..10) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                v[i] = [0u8, 0xff, 0x7f, 0x80, rng.gen()][rng.gen_range(0..5)];
            }
            2 => v.truncate(rng.gen_range(0..=len)),
            3 => v.extend(random_bytes(rng, 64)),
            4 if len > 0 => {
                let at = rng.gen_range(0..=len);
                let ins = random_bytes(rng, 16);
                v.splice(at..at, ins);
            }
            5 if len > 0 => {
                let a = rng.gen_range(0..len);
                let b = rng.gen_range(a..=len.min(a + 32));
                v.drain(a..b);
            }
            6 if len > 0 => {
                let a = rng.gen_range(0..len);
                let b = rng.gen_range(a..=len.min(a + 64));
                let chunk = v[a..b].to_vec();
                let at = rng.gen_range(0..=v.len());
                v.splice(at..at, chunk);
            }
            // Headers live at the front: bias field edits there.
            7 if len >= 4 => {
                let at = if rng.gen_bool(0.7) { 4 * rng.gen_range(0..(len / 4).min(4)) } else { rng.gen_range(0..=len - 4) };
                let x = INTERESTING_U32[rng.gen_range(0..INTERESTING_U32.len())];
                v[at..at + 4].copy_from_slice(&x.to_be_bytes());
            }
            8 if len >= 8 => {
                let at = if rng.gen_bool(0.5) { 8 * rng.gen_range(0..(len / 8).min(8)) } else { rng.gen_range(0..=len - 8) };
                let x = INTERESTING_U64[rng.gen_range(0..INTERESTING_U64.len())];
                v[at..at + 8].copy_from_slice(&x.to_le_bytes());
            }
            _ => v.extend(std::iter::repeat(rng.gen::<u8>()).take(rng.gen_range(1..8))),
        }
    }
    v
}

/// Replace a file by a new one (unlink, then create): rewriting a file in place makes ext4 flush
/// it on close (auto_da_alloc), which costs milliseconds per input.
fn put(path: &Path, bytes: &[u8]) {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, bytes).unwrap();
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

// ---- IDX ----

fn idx_images(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let (n, h, w) = (rng.gen_range(0..4u32), rng.gen_range(0..6u32), rng.gen_range(0..6u32));
    let mut b = Vec::new();
    for v in [0x0803u32, n, h, w] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend((0..n * h * w).map(|_| rng.gen::<u8>()));
    b
}

fn idx_labels(rng: &mut ChaCha8Rng, n: u32) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [0x0801u32, n] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    // Mostly in range for 10 classes, sometimes not.
    b.extend((0..n).map(|_| if rng.gen_bool(0.95) { rng.gen_range(0..10) } else { rng.gen() }));
    b
}

/// An IDX-ish input: valid, mutated, gzip of either, mutated gzip, or random bytes.
fn idx_input(rng: &mut ChaCha8Rng, valid: Vec<u8>) -> Vec<u8> {
    let body = if rng.gen_bool(0.25) { valid } else { mutate(rng, &valid) };
    match rng.gen_range(0..10) {
        0..=5 => body,
        6 | 7 => gzip(&body),
        8 => mutate(rng, &gzip(&body)),
        _ => {
            let mut b = if rng.gen_bool(0.5) { vec![0, 0, 8, [1u8, 3][rng.gen_range(0..2)]] } else { Vec::new() };
            b.extend(random_bytes(rng, 40));
            b
        }
    }
}

#[test]
fn fuzz_idx_reader() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0x1d3);
    let mut f = Findings::new("idx");
    let file = tmp.path().join("input-idx");
    for iter in 0..scale(16000) {
        let valid = if rng.gen_bool(0.5) { idx_images(&mut rng) } else { let n = rng.gen_range(0..6); idx_labels(&mut rng, n) };
        let bytes = idx_input(&mut rng, valid);
        put(&file, &bytes);
        let inputs = [("input-idx", bytes.as_slice())];
        f.check(iter, &inputs, || read_idx_images(&file), |(px, n, h, w)| {
            (Some(px.len()) == n.checked_mul(*h).and_then(|x| x.checked_mul(*w))).then_some(()).ok_or(format!("{} pixels for {n}x{h}x{w}", px.len()))
        });
        f.check(iter, &inputs, || read_idx_labels(&file), |_| Ok(()));
    }
    // A (train, t10k) pair through load_dataset: counts must agree, labels must be < 10.
    let data = tmp.path().join("fm");
    std::fs::create_dir_all(&data).unwrap();
    for iter in 0..scale(6000) {
        let img = idx_images(&mut rng);
        let n = u32::from_be_bytes(img[4..8].try_into().unwrap());
        let n_lab = if rng.gen_bool(0.8) { n } else { rng.gen_range(0..5) };
        let lab = idx_labels(&mut rng, n_lab);
        let (img, lab) = match rng.gen_range(0..4) {
            0 => (img, lab),
            1 => (idx_input(&mut rng, img), lab),
            2 => (img, idx_input(&mut rng, lab)),
            _ => (idx_input(&mut rng, img), idx_input(&mut rng, lab)),
        };
        let (ip, lp) = (data.join("t10k-images-idx3-ubyte"), data.join("t10k-labels-idx1-ubyte"));
        put(&ip, &img);
        put(&lp, &lab);
        let inputs = [("t10k-images-idx3-ubyte", img.as_slice()), ("t10k-labels-idx1-ubyte", lab.as_slice())];
        f.check(iter, &inputs, || load_dataset(DatasetKind::FashionMnist, &data, Split::Test), |d| {
            let ok = d.labels.len() == d.n && d.images.len() == d.n * d.image_size() && d.labels.iter().all(|&l| (0..10).contains(&l));
            ok.then_some(()).ok_or(format!("{d:?} with {} labels, {} bytes", d.labels.len(), d.images.len()))
        });
    }
    f.finish(500, 500);
}

// ---- CIFAR ----

fn cifar_file(rng: &mut ChaCha8Rng, label_bytes: usize, classes: u8) -> Vec<u8> {
    let n = rng.gen_range(0..3);
    let mut b = Vec::with_capacity(n * (label_bytes + 3072));
    for _ in 0..n {
        for _ in 0..label_bytes {
            b.push(if rng.gen_bool(0.95) { rng.gen_range(0..classes) } else { rng.gen() });
        }
        let fill: u8 = rng.gen();
        b.extend(std::iter::repeat(fill).take(3072));
    }
    b
}

#[test]
fn fuzz_cifar_reader() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0xc1fa);
    let mut f = Findings::new("cifar");
    for iter in 0..scale(600) {
        let kind = if rng.gen_bool(0.5) { DatasetKind::Cifar10 } else { DatasetKind::Cifar100 };
        let split = if rng.gen_bool(0.5) { Split::Train } else { Split::Test };
        let root = tmp.path().join(format!("it{iter}"));
        // The files in the folder itself or in the folder the official archive creates.
        let sub = match (rng.gen_bool(0.5), kind) {
            (false, _) => root.clone(),
            (true, DatasetKind::Cifar10) => root.join("cifar-10-batches-bin"),
            (true, _) => root.join("cifar-100-binary"),
        };
        std::fs::create_dir_all(&sub).unwrap();
        let names: Vec<String> = match (kind, split) {
            (DatasetKind::Cifar10, Split::Train) => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
            (DatasetKind::Cifar10, Split::Test) => vec!["test_batch.bin".into()],
            (_, Split::Train) => vec!["train.bin".into()],
            (_, Split::Test) => vec!["test.bin".into()],
        };
        let (label_bytes, classes) = if kind == DatasetKind::Cifar100 { (2, 100) } else { (1, 10) };
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for name in &names {
            if rng.gen_bool(0.03) {
                continue; // a missing file
            }
            let mut b = cifar_file(&mut rng, label_bytes, classes);
            if rng.gen_bool(0.35) {
                b = mutate(&mut rng, &b);
            }
            put(&sub.join(name), &b);
            files.push((name.clone(), b));
        }
        let inputs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
        f.check(iter, &inputs, || load_dataset(kind, &root, split), |d| {
            let ok = d.labels.len() == d.n
                && d.images.len() == d.n * 3072
                && (d.c, d.h, d.w) == (3, 32, 32)
                && d.labels.iter().all(|&l| l >= 0 && (l as usize) < d.num_classes);
            ok.then_some(()).ok_or(format!("{d:?}"))
        });
        std::fs::remove_dir_all(&root).unwrap();
    }
    f.finish(100, 100);
}

// ---- corpus ----

const WORDS: [&str; 14] = ["the", "The", "a", "cat", "<unk>", "<eos>", "N", "$", "ß", "İstanbul", "ǅ", "日本", "\u{0}", "x\u{301}"];

/// Random corpus text: words, odd whitespace, Unicode with case mappings that change length,
/// empty lines, and sometimes invalid UTF-8 or raw bytes.
fn corpus_text(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut b = Vec::new();
    match rng.gen_range(0..12) {
        0 => return Vec::new(),
        1 => return random_bytes(rng, 64),
        2 => return b" \n\t\n\r\n".to_vec(),
        _ => {}
    }
    for _ in 0..rng.gen_range(1..8) {
        for _ in 0..rng.gen_range(0..8) {
            b.extend_from_slice(WORDS[rng.gen_range(0..WORDS.len())].as_bytes());
            b.push([b' ', b' ', b'\t', 0x0b, 0x0c][rng.gen_range(0..5)]);
        }
        b.extend_from_slice([&b"\n"[..], b"\r\n", b"\n\n"][rng.gen_range(0..3)]);
    }
    if rng.gen_bool(0.15) {
        b = mutate(rng, &b);
    }
    b
}

fn rules(rng: &mut ChaCha8Rng) -> VocabRules {
    if rng.gen_bool(0.5) {
        VocabRules::Lstm
    } else {
        VocabRules::Txl
    }
}

fn corpus_consistent(c: &lot::text::corpus::Corpus) -> Result<(), String> {
    let n = c.vocab.len() as u32;
    for (name, s) in [("train", &c.train), ("valid", &c.valid), ("test", &c.test)] {
        if let Some(&id) = s.iter().find(|&&i| i >= n) {
            return Err(format!("{name} has token id {id} but the vocabulary has {n} words"));
        }
    }
    for (i, w) in c.vocab.words.iter().enumerate() {
        if c.vocab.id(w) != Some(i as u32) {
            return Err(format!("vocabulary word {i} {w:?} maps to {:?} (duplicate words)", c.vocab.id(w)));
        }
    }
    Ok(())
}

#[test]
fn fuzz_corpus_reader() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0xc0de);
    let mut f = Findings::new("corpus");
    for iter in 0..scale(6000) {
        let kind = if rng.gen_bool(0.5) { CorpusKind::Ptb } else { CorpusKind::Wikitext };
        let dir = tmp.path().join(format!("c{}", iter % 2));
        std::fs::create_dir_all(&dir).unwrap();
        let paths = kind.files(&dir);
        let mut texts: Vec<(String, Vec<u8>)> = Vec::new();
        for p in &paths {
            let _ = std::fs::remove_file(p);
            if rng.gen_bool(0.02) {
                continue; // missing
            }
            let t = corpus_text(&mut rng);
            put(p, &t);
            texts.push((p.file_name().unwrap().to_string_lossy().into_owned(), t));
        }
        let inputs: Vec<(&str, &[u8])> = texts.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
        let r = rules(&mut rng);
        f.check(iter, &inputs, || load_corpus(&dir, kind, r), corpus_consistent);
    }
    f.finish(300, 300);
}

/// The token cache: mutated raw (checksum catches it), mutated with the checksum recomputed
/// (the decoder must catch it), and forged with extreme declared sizes.
#[test]
fn fuzz_token_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0x70c);
    let mut f = Findings::new("token-cache");
    let mut setups = Vec::new();
    for (i, (kind, r)) in [(CorpusKind::Ptb, VocabRules::Lstm), (CorpusKind::Ptb, VocabRules::Txl), (CorpusKind::Wikitext, VocabRules::Txl)].into_iter().enumerate() {
        let dir = tmp.path().join(format!("s{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        for (p, t) in kind.files(&dir).iter().zip(["a b c a\nb <unk> d\n", "c a\nd\n", "b b\na\n"]) {
            std::fs::write(p, t).unwrap();
        }
        let good = load_cached(&dir, kind, r).unwrap();
        let cache = dir.join(format!(".lot-tokens-{}.bin", if matches!(r, VocabRules::Lstm) { "lstm" } else { "txl" }));
        let bytes = std::fs::read(&cache).unwrap();
        assert_eq!(load_cached(&dir, kind, r).unwrap(), good);
        setups.push((dir, kind, r, cache, bytes));
    }
    for iter in 0..scale(8000) {
        let (dir, kind, r, cache, good) = &setups[rng.gen_range(0..setups.len())];
        let (head, body) = good.split_at(40);
        let bytes = match rng.gen_range(0..10) {
            0 | 1 => mutate(&mut rng, good),
            2..=7 => {
                // Keep the key (so the decoder goes past it) most of the time.
                let klen = u64::from_le_bytes(body[..8].try_into().unwrap()) as usize;
                let keep = 8 + klen;
                let mut b = body.to_vec();
                // (A changed key makes load_cached rebuild the cache, with an fsync: keep that rare.)
                let whole = rng.gen_bool(0.05);
                let tail = if whole { mutate(&mut rng, &b) } else { mutate(&mut rng, &b[keep..]) };
                if !whole {
                    b.truncate(keep);
                    b.extend(tail);
                } else {
                    b = tail;
                }
                let mut out = head[..8].to_vec();
                out.extend_from_slice(&Sha256::digest(&b));
                out.extend(b);
                out
            }
            _ => {
                // Forged body: the real key, then extreme counts and sizes.
                let klen = u64::from_le_bytes(body[..8].try_into().unwrap()) as usize;
                let mut b = body[..8 + klen].to_vec();
                let pick = |rng: &mut ChaCha8Rng| if rng.gen_bool(0.5) { INTERESTING_U64[rng.gen_range(0..INTERESTING_U64.len())] } else { rng.gen_range(0..6) };
                let nwords = pick(&mut rng);
                let words = ["a", "a\nb", "", "a\na", "<eos>\n<unk>\nx"][rng.gen_range(0..5)];
                let wlen = if rng.gen_bool(0.7) { words.len() as u64 } else { pick(&mut rng) };
                b.extend_from_slice(&nwords.to_le_bytes());
                b.extend_from_slice(&wlen.to_le_bytes());
                b.extend_from_slice(words.as_bytes());
                for _ in 0..3 {
                    let n = pick(&mut rng);
                    b.extend_from_slice(&n.to_le_bytes());
                    for _ in 0..n.min(4) {
                        b.extend_from_slice(&(rng.gen_range(0..4u32)).to_le_bytes());
                    }
                }
                let mut out = head[..8].to_vec();
                out.extend_from_slice(&Sha256::digest(&b));
                out.extend(b);
                out
            }
        };
        put(cache, &bytes);
        let inputs = [(".lot-tokens.bin", bytes.as_slice())];
        f.check(iter, &inputs, || load_cached(dir, *kind, *r), corpus_consistent);
    }
    f.finish(100, 500);
}

// ---- config ----

fn shipped_configs() -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut v: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let t = std::fs::read_to_string(&p).unwrap();
            (p, t)
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no configs in {}", dir.display());
    v
}

const VALUES: [&str; 46] = [
    "0", "1", "2", "3", "5", "-1", "-0", "65536", "4294967296", "9223372036854775807", "-9223372036854775808", "18446744073709551615",
    "99999999999999999999", "1e309", "-1e309", "nan", "-nan", "inf", "-inf", "1.5", "0.0", "1e-320", "0.999999", "\"\"", "\"lot\"",
    "\"teacher_only\"", "\"compute_matched\"", "\"kl\"", "\"cifar10\"", "\"fashion-mnist\"", "\"110_20\"", "\"8_8_8\"", "\"0_0\"", "\"2_2\"",
    "\"20\"", "\"CartPole-v1\"", "\"BreakoutNoFrameskip-v4\"", "\"cuda:99999999999999999999\"", "\"cuda:-1\"", "true", "[]", "[1, 2]", "{}",
    "{ a = 1 }", "1979-05-27T07:32:00Z", "'lit'",
];

/// Every `section.key` and section name in the shipped configs (plus a few made up).
fn known_keys(configs: &[(PathBuf, String)]) -> (Vec<String>, Vec<String>) {
    let mut keys = vec!["task".to_string(), "run.bogus".into(), "lot.mode".into(), "model.depth".into(), "a.b.c".into()];
    let mut sections = vec!["run".to_string(), "lot".into(), "data".into(), "model".into(), "train".into(), "env".into(), "ppo".into(), "eval".into(), "x".into()];
    for (_, text) in configs {
        let doc: toml::Table = toml::from_str(text).unwrap();
        for (s, v) in &doc {
            if let toml::Value::Table(t) = v {
                sections.push(s.clone());
                keys.extend(t.keys().map(|k| format!("{s}.{k}")));
            }
        }
    }
    keys.sort();
    keys.dedup();
    sections.sort();
    sections.dedup();
    (keys, sections)
}

/// Line-level edits of a valid config: replace a value, drop/duplicate/move lines, add keys.
fn mutate_lines(rng: &mut ChaCha8Rng, text: &str, keys: &[String], sections: &[String]) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for _ in 0..rng.gen_range(1..=3) {
        let n = lines.len().max(1);
        let i = rng.gen_range(0..n).min(lines.len().saturating_sub(1));
        match rng.gen_range(0..7) {
            0..=2 if !lines.is_empty() => {
                if let Some((k, _)) = lines[i].split_once('=') {
                    lines[i] = format!("{k}= {}", VALUES[rng.gen_range(0..VALUES.len())]);
                }
            }
            3 if !lines.is_empty() => {
                lines.remove(i);
            }
            4 if !lines.is_empty() => {
                let l = lines[i].clone();
                lines.insert(rng.gen_range(0..=lines.len()), l);
            }
            5 => {
                let s = &sections[rng.gen_range(0..sections.len())];
                lines.insert(rng.gen_range(0..=lines.len()), format!("[{s}]"));
            }
            _ => {
                let k = &keys[rng.gen_range(0..keys.len())];
                let k = k.rsplit('.').next().unwrap();
                lines.insert(rng.gen_range(0..=lines.len()), format!("{k} = {}", VALUES[rng.gen_range(0..VALUES.len())]));
            }
        }
    }
    lines.join("\n")
}

/// Random TOML-ish text from fragments of the grammar.
fn random_tomlish(rng: &mut ChaCha8Rng, keys: &[String], sections: &[String]) -> String {
    let frags = ["[", "]", "[[", "]]", "=", "\"", "'", "{", "}", ",", ".", "#", "\n", " ", "\\", "\"\"\"", "task", "0x", "0o7", "0b1", "_", "+"];
    let mut s = String::new();
    if rng.gen_bool(0.7) {
        s.push_str(["task = \"vision\"\n", "task = \"text\"\n", "task = \"rl\"\n", "task = 1\n", ""][rng.gen_range(0..5)]);
    }
    for _ in 0..rng.gen_range(0..12) {
        match rng.gen_range(0..4) {
            0 => s.push_str(&format!("[{}]\n", sections[rng.gen_range(0..sections.len())])),
            1 | 2 => {
                let k = &keys[rng.gen_range(0..keys.len())];
                let k = if rng.gen_bool(0.7) { k.rsplit('.').next().unwrap() } else { k };
                s.push_str(&format!("{k} = {}\n", VALUES[rng.gen_range(0..VALUES.len())]));
            }
            _ => {
                for _ in 0..rng.gen_range(1..6) {
                    s.push_str(frags[rng.gen_range(0..frags.len())]);
                }
            }
        }
    }
    s
}

fn random_sets(rng: &mut ChaCha8Rng, keys: &[String]) -> Vec<String> {
    (0..rng.gen_range(0..4))
        .map(|_| match rng.gen_range(0..8) {
            0 => ["=", ".=1", "a..b=1", "noequals", "run=1", "lot.alpha", " = ", "x.=2"][rng.gen_range(0..8)].to_string(),
            1 => format!("{}={}", keys[rng.gen_range(0..keys.len())], ["110_20", "1__2", "_", "8_8_8", "[", "\"", "nan", ""][rng.gen_range(0..8)]),
            _ => format!("{}={}", keys[rng.gen_range(0..keys.len())], VALUES[rng.gen_range(0..VALUES.len())]),
        })
        .collect()
}

#[test]
fn fuzz_config_parser() {
    let configs = shipped_configs();
    let (keys, sections) = known_keys(&configs);
    let mut rng = ChaCha8Rng::seed_from_u64(0xc0f1);
    let mut f = Findings::new("config");
    for (p, text) in &configs {
        // Shipped configs parse (Atari and MinAtar ones may be refused without their features).
        if let Err(e) = Config::from_toml(text, &[], "c.toml") {
            assert!(is_input_error(&e) && (e.to_string().contains("atari") || e.to_string().contains("minatar")), "{}: {e:#}", p.display());
        }
    }
    for iter in 0..scale(30000) {
        let base = &configs[rng.gen_range(0..configs.len())].1;
        let text = match rng.gen_range(0..10) {
            0..=3 => mutate_lines(&mut rng, base, &keys, &sections),
            4 | 5 => String::from_utf8_lossy(&mutate(&mut rng, base.as_bytes())).into_owned(),
            6 | 7 => random_tomlish(&mut rng, &keys, &sections),
            _ => base.clone(),
        };
        let sets = if rng.gen_bool(0.4) { random_sets(&mut rng, &keys) } else { Vec::new() };
        let mut input = text.clone();
        for s in &sets {
            input.push_str(&format!("\n# --set {s}"));
        }
        let inputs = [("input.toml", input.as_bytes())];
        f.check(iter, &inputs, || Config::from_toml(&text, &sets, "fuzz.toml"), |c| {
            // What is accepted round-trips through the resolved config a run folder stores.
            // (Compared as TOML text: NaN != NaN, but a NaN a validator lets through is still written back.)
            let resolved = c.to_toml();
            match Config::from_toml(&resolved, &[], "resolved.toml") {
                Ok(again) if again.to_toml() == resolved => Ok(()),
                Ok(again) => Err(format!("resolved config differs after a round trip: {resolved:?} vs {:?}", again.to_toml())),
                Err(e) => Err(format!("resolved config does not parse: {e:#}")),
            }
        });
    }
    f.finish(500, 3000);
}

/// Inputs the targets above once found, kept as fixed cases.
#[test]
fn regressions_found_by_fuzzing() {
    // lot.students = 2^32 made VisionConfig::depths allocate 32 GiB (abort, not a panic).
    let min = "task = \"vision\"\n[data]\ndataset = \"fashion-mnist\"\n";
    for k in ["4294967296", "257", "0"] {
        let e = Config::from_toml(min, &[format!("lot.students={k}")], "c.toml").unwrap_err();
        assert!(is_input_error(&e) && e.to_string().contains("lot.students"), "{e:#}");
    }
    assert_eq!(Config::from_toml(min, &["lot.students=3".into()], "c.toml").unwrap().lot.students, 3);

    // A token cache with a valid checksum but a repeated vocabulary word: the vocabulary came out
    // shorter than declared and token ids could point past its end.
    let tmp = tempfile::tempdir().unwrap();
    for (p, t) in CorpusKind::Ptb.files(tmp.path()).iter().zip(["a b\n", "a\n", "b\n"]) {
        std::fs::write(p, t).unwrap();
    }
    load_cached(tmp.path(), CorpusKind::Ptb, VocabRules::Lstm).unwrap();
    let cache = tmp.path().join(".lot-tokens-lstm.bin");
    let good = std::fs::read(&cache).unwrap();
    let klen = u64::from_le_bytes(good[40..48].try_into().unwrap()) as usize;
    let mut body = good[40..48 + klen].to_vec();
    let words = b"a\nb\na";
    body.extend_from_slice(&3u64.to_le_bytes());
    body.extend_from_slice(&(words.len() as u64).to_le_bytes());
    body.extend_from_slice(words);
    for id in [0u32, 1, 2] {
        body.extend_from_slice(&1u64.to_le_bytes());
        body.extend_from_slice(&id.to_le_bytes());
    }
    let mut bytes = good[..8].to_vec();
    bytes.extend_from_slice(&Sha256::digest(&body));
    bytes.extend(body);
    put(&cache, &bytes);
    let e = load_cached(tmp.path(), CorpusKind::Ptb, VocabRules::Lstm).unwrap_err();
    assert!(is_input_error(&e) && e.to_string().contains("duplicate words"), "{e:#}");
}
