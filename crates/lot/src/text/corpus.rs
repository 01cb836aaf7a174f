//! Word-level corpora and vocabularies, with the reference's two sets of rules:
//! - `lstm` (utils/corpus.py): whitespace split, `<eos>` per line, words numbered in order of first
//!   appearance over train, valid, test (so no word is ever unknown);
//! - `txl` (Transformer-XL's Vocab): `<eos>` first, then the counted files' words by descending
//!   frequency (ties in order of first appearance); PTB counts train+valid+test lower-cased,
//!   WikiText-103 counts train only with case kept. A word outside the vocabulary is an error
//!   (the original asserts), unless the vocabulary has `<unk>`.
//! Token streams are kept as `u32` ids; files are read line by line, so a 100M-token corpus never
//! holds per-token strings.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bail_input;
use crate::error::input_err;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VocabRules {
    Lstm,
    Txl,
}

/// Which files make up a corpus and how Transformer-XL counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CorpusKind {
    /// `ptb.{train,valid,test}.txt`
    Ptb,
    /// `wiki.{train,valid,test}.tokens` (WikiText-2 or -103, tokenized release)
    Wikitext,
    /// Your own UTF-8 text: `train.txt`, `valid.txt`, `test.txt`, read as WikiText is (words split
    /// at whitespace, `<eos>` per line, Transformer-XL counts train only and keeps case).
    TextFiles,
}

impl CorpusKind {
    pub fn files(self, dir: &Path) -> [PathBuf; 3] {
        match self {
            CorpusKind::Ptb => ["train", "valid", "test"].map(|s| dir.join(format!("ptb.{s}.txt"))),
            CorpusKind::Wikitext => ["train", "valid", "test"].map(|s| dir.join(format!("wiki.{s}.tokens"))),
            CorpusKind::TextFiles => ["train", "valid", "test"].map(|s| dir.join(format!("{s}.txt"))),
        }
    }
    fn how_to_get(self) -> &'static str {
        match self {
            CorpusKind::Ptb => "run `lot data fetch ptb`",
            CorpusKind::Wikitext => {
                "WikiText is not on any package registry: download wikitext-103-v1.zip (or wikitext-2) and point data.dir at the folder with wiki.*.tokens"
            }
            CorpusKind::TextFiles => "data.dir must hold train.txt, valid.txt and test.txt (UTF-8 text; docs/own-data.md)",
        }
    }
}

pub const EOS: &str = "<eos>";
pub const UNK: &str = "<unk>";

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Vocab {
    pub words: Vec<String>,
    index: HashMap<String, u32>,
}

impl Vocab {
    pub fn len(&self) -> usize {
        self.words.len()
    }
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
    pub fn id(&self, w: &str) -> Option<u32> {
        self.index.get(w).copied()
    }
    fn add(&mut self, w: &str) -> u32 {
        if let Some(&i) = self.index.get(w) {
            return i;
        }
        let i = self.words.len() as u32;
        self.words.push(w.to_string());
        self.index.insert(w.to_string(), i);
        i
    }
    pub fn from_words(words: Vec<String>) -> Self {
        let mut v = Vocab::default();
        for w in &words {
            v.add(w);
        }
        v
    }
}

/// The three token streams and their vocabulary.
#[derive(Clone, Debug, PartialEq)]
pub struct Corpus {
    pub vocab: Vocab,
    pub train: Vec<u32>,
    pub valid: Vec<u32>,
    pub test: Vec<u32>,
}

/// Call `f` with the whitespace-split words of every line (then `<eos>`), checking UTF-8.
fn for_each_line(path: &Path, lower: bool, mut f: impl FnMut(&str) -> Result<()>) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| input_err(format!("corpus file {}: cannot open: {e}", path.display())))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    let mut offset = 0usize; // of the line's first byte in the file
    let mut any = false;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| input_err(format!("corpus file {}: read error: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let line = std::str::from_utf8(&buf).map_err(|e| {
            let at = offset + e.valid_up_to();
            input_err(format!("corpus file {}: line {line_no} is not valid UTF-8 (byte offset {at})", path.display()))
        })?;
        offset += n;
        let lowered;
        let line = if lower {
            lowered = line.to_lowercase();
            lowered.as_str()
        } else {
            line
        };
        for w in line.split_whitespace() {
            any = true;
            f(w)?;
        }
        f(EOS)?;
    }
    if !any {
        bail_input!("corpus file {}: empty (no words)", path.display());
    }
    Ok(())
}

fn check_files(files: &[PathBuf; 3], kind: CorpusKind) -> Result<()> {
    for p in files {
        if !p.is_file() {
            bail_input!("corpus file {} not found; {}", p.display(), kind.how_to_get());
        }
    }
    Ok(())
}

/// Build a corpus from its folder with the given rules.
pub fn load_corpus(dir: &Path, kind: CorpusKind, rules: VocabRules) -> Result<Corpus> {
    let files = kind.files(dir);
    check_files(&files, kind)?;
    match rules {
        VocabRules::Lstm => {
            let mut vocab = Vocab::default();
            let mut streams: Vec<Vec<u32>> = Vec::new();
            for p in &files {
                let mut ids = Vec::new();
                for_each_line(p, false, |w| {
                    ids.push(vocab.add(w));
                    Ok(())
                })?;
                streams.push(ids);
            }
            let test = streams.pop().unwrap();
            let valid = streams.pop().unwrap();
            let train = streams.pop().unwrap();
            Ok(Corpus { vocab, train, valid, test })
        }
        VocabRules::Txl => {
            let (lower, counted): (bool, &[PathBuf]) = match kind {
                CorpusKind::Ptb => (true, &files[..]),
                CorpusKind::Wikitext | CorpusKind::TextFiles => (false, &files[..1]),
            };
            // Count, remembering first appearance for stable tie-breaking (Counter.most_common).
            let mut counts: HashMap<String, (u64, usize)> = HashMap::new();
            for p in counted {
                for_each_line(p, lower, |w| {
                    let next = counts.len();
                    counts.entry(w.to_string()).or_insert((0, next)).0 += 1;
                    Ok(())
                })?;
            }
            let mut by_freq: Vec<(String, u64, usize)> = counts.into_iter().map(|(w, (c, o))| (w, c, o)).collect();
            by_freq.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
            let mut vocab = Vocab::default();
            vocab.add(EOS);
            for (w, _, _) in &by_freq {
                vocab.add(w);
            }
            drop(by_freq);
            let unk = vocab.id(UNK);
            let mut streams = Vec::new();
            for p in &files {
                let mut ids = Vec::new();
                for_each_line(p, lower, |w| {
                    match vocab.id(w).or(unk) {
                        Some(i) => ids.push(i),
                        None => bail_input!(
                            "corpus file {}: word '{w}' is not in the vocabulary (built from the training set) and there is no <unk>",
                            p.display()
                        ),
                    }
                    Ok(())
                })?;
                streams.push(ids);
            }
            let test = streams.pop().unwrap();
            let valid = streams.pop().unwrap();
            let train = streams.pop().unwrap();
            Ok(Corpus { vocab, train, valid, test })
        }
    }
}

// ---- token cache: ids + vocabulary in one checksummed file, rebuilt when the sources change ----

const CACHE_MAGIC: &[u8; 8] = b"LOTTOK01";

/// A key for the source files: their sizes and modification times.
fn source_key(files: &[PathBuf; 3]) -> String {
    files
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).ok();
            let size = m.as_ref().map(|m| m.len()).unwrap_or(0);
            let mtime = m.and_then(|m| m.modified().ok()).and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
            format!("{}:{size}:{mtime}", p.display())
        })
        .collect::<Vec<_>>()
        .join("|")
}

fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn encode_cache(key: &str, c: &Corpus) -> Vec<u8> {
    let mut body = Vec::new();
    push_u64(&mut body, key.len() as u64);
    body.extend_from_slice(key.as_bytes());
    let words = c.vocab.words.join("\n");
    push_u64(&mut body, c.vocab.len() as u64);
    push_u64(&mut body, words.len() as u64);
    body.extend_from_slice(words.as_bytes());
    for s in [&c.train, &c.valid, &c.test] {
        push_u64(&mut body, s.len() as u64);
        for &id in s.iter() {
            body.extend_from_slice(&id.to_le_bytes());
        }
    }
    let mut out = CACHE_MAGIC.to_vec();
    out.extend_from_slice(&Sha256::digest(&body));
    out.extend_from_slice(&body);
    out
}

/// Decode a cache file. `Ok(None)`: valid but for other sources. `Err`: corrupt.
fn decode_cache(bytes: &[u8], key: &str, path: &Path) -> Result<Option<Corpus>> {
    let corrupt = |what: &str| input_err(format!("token cache {} is corrupt ({what}); delete it to rebuild", path.display()));
    if bytes.len() < 40 || &bytes[..8] != CACHE_MAGIC {
        return Err(corrupt("bad header"));
    }
    let body = &bytes[40..];
    if Sha256::digest(body).as_slice() != &bytes[8..40] {
        return Err(corrupt("checksum mismatch"));
    }
    let mut c = crate::fsio::ByteReader::new(body);
    let klen = c.u64().ok_or_else(|| corrupt("truncated"))? as usize;
    let k = c.take(klen).ok_or_else(|| corrupt("truncated"))?;
    if k != key.as_bytes() {
        return Ok(None);
    }
    let nwords = c.u64().ok_or_else(|| corrupt("truncated"))? as usize;
    let wlen = c.u64().ok_or_else(|| corrupt("truncated"))? as usize;
    let words = std::str::from_utf8(c.take(wlen).ok_or_else(|| corrupt("truncated"))?).map_err(|_| corrupt("vocabulary not UTF-8"))?;
    let words: Vec<String> = if nwords == 0 { Vec::new() } else { words.split('\n').map(String::from).collect() };
    if words.len() != nwords {
        return Err(corrupt("vocabulary size"));
    }
    let mut streams = Vec::new();
    for _ in 0..3 {
        let n = c.u64().ok_or_else(|| corrupt("truncated"))? as usize;
        let raw = c.take(n.checked_mul(4).ok_or_else(|| corrupt("size"))?).ok_or_else(|| corrupt("truncated"))?;
        let ids: Vec<u32> = raw.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().unwrap())).collect();
        if ids.iter().any(|&i| i as usize >= nwords) {
            return Err(corrupt("token id out of range"));
        }
        streams.push(ids);
    }
    let test = streams.pop().unwrap();
    let valid = streams.pop().unwrap();
    let train = streams.pop().unwrap();
    let vocab = Vocab::from_words(words);
    if vocab.len() != nwords {
        // Duplicate words would leave ids >= vocab.len() in the streams.
        return Err(corrupt("duplicate words in the vocabulary"));
    }
    Ok(Some(Corpus { vocab, train, valid, test }))
}

/// Load a corpus through its token cache (`<dir>/.lot-tokens-<rules>.bin`): reuse it when the
/// sources are unchanged, refuse it clearly when corrupt, rebuild it otherwise.
pub fn load_cached(dir: &Path, kind: CorpusKind, rules: VocabRules) -> Result<Corpus> {
    let files = kind.files(dir);
    check_files(&files, kind)?;
    let key = source_key(&files);
    let cache = dir.join(format!(".lot-tokens-{}.bin", match rules { VocabRules::Lstm => "lstm", VocabRules::Txl => "txl" }));
    if let Ok(mut f) = std::fs::File::open(&cache) {
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).map_err(|e| input_err(format!("token cache {}: {e}", cache.display())))?;
        if let Some(c) = decode_cache(&bytes, &key, &cache)? {
            return Ok(c);
        }
    }
    let corpus = load_corpus(dir, kind, rules)?;
    // A read-only data folder just means no cache.
    if let Err(e) = crate::fsio::write_atomic(&cache, &encode_cache(&key, &corpus)) {
        eprintln!("note: could not write token cache {}: {e:#}", cache.display());
    }
    Ok(corpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, kind: CorpusKind, texts: [&str; 3]) {
        for (p, t) in kind.files(dir).iter().zip(texts) {
            std::fs::write(p, t).unwrap();
        }
    }

    #[test]
    fn lstm_rules_number_words_by_first_appearance_over_all_splits() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), CorpusKind::Ptb, [" a b a \n c\n", " d a \n", " e \n"]);
        let c = load_corpus(d.path(), CorpusKind::Ptb, VocabRules::Lstm).unwrap();
        assert_eq!(c.vocab.words, vec!["a", "b", "<eos>", "c", "d", "e"]);
        assert_eq!(c.train, vec![0, 1, 0, 2, 3, 2]);
        assert_eq!(c.valid, vec![4, 0, 2]);
        assert_eq!(c.test, vec![5, 2]);
    }

    #[test]
    fn txl_rules_sort_by_frequency_with_eos_first() {
        let d = tempfile::tempdir().unwrap();
        // PTB: lower-cased, counted over all three files. Counts: x 3, y 2 (first seen before z), z 2, w 1, <eos> 5.
        write(d.path(), CorpusKind::Ptb, ["Y x z\nx\n", "z y\n", "X w\n"]);
        let c = load_corpus(d.path(), CorpusKind::Ptb, VocabRules::Txl).unwrap();
        assert_eq!(c.vocab.words, vec!["<eos>", "x", "y", "z", "w"]);
        assert_eq!(c.train, vec![2, 1, 3, 0, 1, 0]);
        assert_eq!(c.test, vec![1, 4, 0]);
        // WikiText: train only, case kept; a valid word outside train is an error without <unk>.
        let d = tempfile::tempdir().unwrap();
        write(d.path(), CorpusKind::Wikitext, ["The the the\n\n", "the\n", "The\n"]);
        let c = load_corpus(d.path(), CorpusKind::Wikitext, VocabRules::Txl).unwrap();
        assert_eq!(c.vocab.words, vec!["<eos>", "the", "The"]);
        assert_eq!(c.train, vec![2, 1, 1, 0, 0]);
        write(d.path(), CorpusKind::Wikitext, ["a b\n", "a\n", "a zebra\n"]);
        let e = load_corpus(d.path(), CorpusKind::Wikitext, VocabRules::Txl).unwrap_err();
        assert!(e.to_string().contains("'zebra'") && e.to_string().contains("wiki.test.tokens"), "{e}");
        // With <unk> in the vocabulary the word maps to it.
        write(d.path(), CorpusKind::Wikitext, ["a <unk>\n", "a\n", "a zebra\n"]);
        let c = load_corpus(d.path(), CorpusKind::Wikitext, VocabRules::Txl).unwrap();
        assert_eq!(c.test, vec![c.vocab.id("a").unwrap(), c.vocab.id(UNK).unwrap(), 0]);
    }

    #[test]
    fn bad_corpus_files() {
        let d = tempfile::tempdir().unwrap();
        let e = load_corpus(d.path(), CorpusKind::Ptb, VocabRules::Lstm).unwrap_err();
        assert!(e.to_string().contains("ptb.train.txt") && e.to_string().contains("lot data fetch ptb"), "{e}");
        write(d.path(), CorpusKind::Ptb, ["a\n", "\n\n", "a\n"]);
        let e = load_corpus(d.path(), CorpusKind::Ptb, VocabRules::Lstm).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        std::fs::write(d.path().join("ptb.valid.txt"), b"ok\n\xff\xfe bad\n").unwrap();
        let e = load_corpus(d.path(), CorpusKind::Ptb, VocabRules::Lstm).unwrap_err();
        assert!(e.to_string().contains("line 2 is not valid UTF-8"), "{e}");
    }

    /// Your own text: WikiText's rules; a missing file, bad UTF-8 (file and byte offset) and an
    /// empty training file are one clear error each.
    #[test]
    fn text_files_corpus() {
        let d = tempfile::tempdir().unwrap();
        let e = load_corpus(d.path(), CorpusKind::TextFiles, VocabRules::Txl).unwrap_err();
        assert!(e.to_string().contains("train.txt not found") && e.to_string().contains("data.dir must hold train.txt"), "{e}");
        write(d.path(), CorpusKind::TextFiles, ["Der Hund\nder Hund läuft\n", "der Hund\n", "läuft\n"]);
        let c = load_corpus(d.path(), CorpusKind::TextFiles, VocabRules::Txl).unwrap();
        // Counted over train only, case kept: Hund 2, then Der, der, läuft (1 each, first seen first).
        assert_eq!(c.vocab.words, vec!["<eos>", "Hund", "Der", "der", "läuft"]);
        assert_eq!(c.train, vec![2, 1, 0, 3, 1, 4, 0]);
        assert_eq!(c.test, vec![4, 0]);
        // A test word outside the training vocabulary is an error, as WikiText's would be.
        std::fs::write(d.path().join("test.txt"), "Katze\n").unwrap();
        let e = load_corpus(d.path(), CorpusKind::TextFiles, VocabRules::Txl).unwrap_err();
        assert!(e.to_string().contains("test.txt: word 'Katze'"), "{e}");
        let c = load_corpus(d.path(), CorpusKind::TextFiles, VocabRules::Lstm).unwrap();
        assert_eq!(c.vocab.len(), 6);
        std::fs::write(d.path().join("valid.txt"), b"ok\nfine \xc3\x28 broken\n").unwrap();
        let e = crate::testing::input_error_text(load_corpus(d.path(), CorpusKind::TextFiles, VocabRules::Lstm).unwrap_err());
        assert!(e.contains("valid.txt: line 2 is not valid UTF-8 (byte offset 8)"), "{e}");
        std::fs::write(d.path().join("train.txt"), b"").unwrap();
        let e = crate::testing::input_error_text(load_corpus(d.path(), CorpusKind::TextFiles, VocabRules::Lstm).unwrap_err());
        assert!(e.contains("train.txt: empty (no words)"), "{e}");
    }

    #[test]
    fn token_cache_round_trips_and_detects_corruption() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), CorpusKind::Ptb, ["a b c\nb\n", "c a\n", "b\n"]);
        let first = load_cached(d.path(), CorpusKind::Ptb, VocabRules::Txl).unwrap();
        let cache = d.path().join(".lot-tokens-txl.bin");
        assert!(cache.is_file());
        assert_eq!(load_cached(d.path(), CorpusKind::Ptb, VocabRules::Txl).unwrap(), first);
        let mut bytes = std::fs::read(&cache).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        std::fs::write(&cache, &bytes).unwrap();
        let e = load_cached(d.path(), CorpusKind::Ptb, VocabRules::Txl).unwrap_err();
        assert!(e.to_string().contains("corrupt") && e.to_string().contains("checksum"), "{e}");
        std::fs::write(&cache, b"LOTTOK01short").unwrap();
        assert!(load_cached(d.path(), CorpusKind::Ptb, VocabRules::Txl).unwrap_err().to_string().contains("corrupt"));
    }

    /// With the real PTB present (`lot data fetch ptb`): 929,589 training tokens and 10,000 words.
    #[test]
    fn real_ptb_counts() {
        let dir = crate::data::registry::default_data_dir().join("ptb");
        if !dir.join("ptb.train.txt").is_file() {
            crate::testing::skip("real_ptb_counts", &format!("PTB not present in {} (run `lot data fetch ptb`)", dir.display()));
            return;
        }
        let c = load_corpus(&dir, CorpusKind::Ptb, VocabRules::Lstm).unwrap();
        assert_eq!(c.train.len(), 929_589);
        assert_eq!(c.valid.len(), 73_760);
        assert_eq!(c.test.len(), 82_430);
        assert_eq!(c.vocab.len(), 10_000);
        let t = load_corpus(&dir, CorpusKind::Ptb, VocabRules::Txl).unwrap();
        assert_eq!(t.vocab.len(), 10_000);
        assert_eq!(t.vocab.words[0], EOS);
        assert_eq!(t.train.len(), 929_589);
    }
}
