//! TensorBoard event files, written without TensorFlow or protobuf crates.
//!
//! A run folder gets `events.out.tfevents.<secs>.<host>.lot` next to `metrics.jsonl`: every
//! scalar of every [`Record`](super::Record) becomes a value tagged `<model>/<split>/<field>`
//! (`teacher/test/accuracy`, `student0/train/loss`, `teacher/valid/perplexity`,
//! `teacher/rollout/episodic_return`, …) at `step = record.step`. `tensorboard --logdir runs/`
//! then shows every run.
//!
//! Format: a sequence of TFRecords, each `u64` length (little endian), the masked CRC32C of those
//! 8 bytes, the data, the masked CRC32C of the data (mask = `((crc >> 15) | (crc << 17)) +
//! 0xa282ead8`). The data is an `Event` protobuf: `wall_time` (double, field 1), `step` (int64,
//! field 2), `file_version` (string, field 3; `"brain.Event:2"` in the first event of a file) or
//! `summary` (field 5): a `Summary` holding repeated `value` (field 1), each a `tag` (string,
//! field 1) and a `simple_value` (float, field 2).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};


/// `file_version` of the first event of every file.
pub const FILE_VERSION: &str = "brain.Event:2";

// ---- CRC32C (Castagnoli), table-driven ----

fn crc32c_table() -> &'static [u32; 256] {
    static TABLE: OnceLock<[u32; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (n, e) in t.iter_mut().enumerate() {
            let mut c = n as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0x82F6_3B78 ^ (c >> 1) } else { c >> 1 };
            }
            *e = c;
        }
        t
    })
}

/// CRC-32C (Castagnoli polynomial, reflected 0x82F63B78) of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    let table = crc32c_table();
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c = table[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

/// The masked CRC32C TFRecord stores.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let c = crc32c(data);
    ((c >> 15) | (c << 17)).wrapping_add(0xa282_ead8)
}

/// One TFRecord: length, masked CRC of the length, data, masked CRC of the data.
pub fn tfrecord(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
    out
}

// ---- protobuf, by hand ----

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Field key: (field number << 3) | wire type.
fn put_key(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, ((field as u64) << 3) | wire as u64);
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// What an event carries besides its time and step.
#[derive(Clone, Debug, PartialEq)]
pub enum EventBody<'a> {
    FileVersion(&'a str),
    /// `(tag, simple_value)` pairs of one `Summary`.
    Scalars(&'a [(String, f32)]),
}

/// The `Event` protobuf bytes.
pub fn encode_event(wall_time: f64, step: i64, body: &EventBody<'_>) -> Vec<u8> {
    let mut ev = Vec::new();
    put_key(&mut ev, 1, 1); // wall_time: double (64-bit)
    ev.extend_from_slice(&wall_time.to_le_bytes());
    if step != 0 {
        put_key(&mut ev, 2, 0); // step: int64 varint (negative: 10 bytes, two's complement)
        put_varint(&mut ev, step as u64);
    }
    match body {
        EventBody::FileVersion(v) => put_bytes(&mut ev, 3, v.as_bytes()),
        EventBody::Scalars(values) => {
            let mut summary = Vec::new();
            for (tag, v) in values.iter() {
                let mut value = Vec::new();
                put_bytes(&mut value, 1, tag.as_bytes());
                put_key(&mut value, 2, 5); // simple_value: float (32-bit)
                value.extend_from_slice(&v.to_le_bytes());
                put_bytes(&mut summary, 1, &value);
            }
            put_bytes(&mut ev, 5, &summary);
        }
    }
    ev
}

// ---- the writer ----

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The machine's host name, reduced to characters safe in a file name (`localhost` if unknown).
fn host_name() -> String {
    let raw = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".into());
    raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// `events.out.tfevents.<secs>.<host>.lot`
pub fn event_file_name(secs: u64, host: &str) -> String {
    format!("events.out.tfevents.{secs}.{host}.lot")
}

/// Appends events to one event file, flushing after each write.
pub struct EventWriter {
    file: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// Create a new event file in `dir` and write its `file_version` event. Another writer's
    /// file from the same second is never reused: the name then gets a `.<pid>-<n>` part.
    pub fn create(dir: &Path) -> Result<Self> {
        let now = unix_now();
        let host = host_name();
        let mut n = 0u32;
        let (file, path) = loop {
            let name = if n == 0 {
                event_file_name(now as u64, &host)
            } else {
                format!("events.out.tfevents.{}.{host}.{}-{n}.lot", now as u64, std::process::id())
            };
            let path = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => break (f, path),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
            }
        };
        let mut w = EventWriter { file: BufWriter::new(file), path };
        w.write_event(&encode_event(now, 0, &EventBody::FileVersion(FILE_VERSION)))?;
        Ok(w)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_event(&mut self, event: &[u8]) -> Result<()> {
        self.file
            .write_all(&tfrecord(event))
            .and_then(|_| self.file.flush())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// One event holding several scalars at `step` (wall time: now).
    pub fn add_scalars(&mut self, step: i64, scalars: &[(String, f32)]) -> Result<()> {
        if scalars.is_empty() {
            return Ok(());
        }
        self.write_event(&encode_event(unix_now(), step, &EventBody::Scalars(scalars)))
    }

    pub fn add_scalar(&mut self, tag: &str, value: f32, step: i64) -> Result<()> {
        self.add_scalars(step, &[(tag.to_string(), value)])
    }
}

#[cfg(test)]
mod tests {
    //! The file is read back by an independent reader: its own bitwise CRC32C, its own framing
    //! and a minimal protobuf field parser.
    use super::*;
    use crate::track::metrics::{record_scalars, Record, RecordKind};

    /// Bitwise CRC32C (no table), independent of the writer's.
    fn crc32c_bitwise(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                let lsb = crc & 1;
                crc >>= 1;
                if lsb == 1 {
                    crc ^= 0x82F6_3B78;
                }
            }
        }
        !crc
    }

    fn unmask(m: u32) -> u32 {
        let r = m.wrapping_sub(0xa282_ead8);
        r.rotate_left(15)
    }

    /// TFRecord framing with both CRCs checked.
    fn read_records(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            assert!(bytes.len() - at >= 12, "truncated record header at {at}");
            let len_bytes = &bytes[at..at + 8];
            let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
            let len_crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
            assert_eq!(unmask(len_crc), crc32c_bitwise(len_bytes), "length CRC at {at}");
            let data = &bytes[at + 12..at + 12 + len];
            let data_crc = u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap());
            assert_eq!(unmask(data_crc), crc32c_bitwise(data), "data CRC at {at}");
            out.push(data.to_vec());
            at += 16 + len;
        }
        out
    }

    #[derive(Debug, PartialEq)]
    enum Field {
        Varint(u64),
        Fixed64([u8; 8]),
        Bytes(Vec<u8>),
        Fixed32([u8; 4]),
    }

    fn varint(b: &[u8], at: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let byte = b[*at];
            *at += 1;
            v |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }

    fn fields(b: &[u8]) -> Vec<(u64, Field)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < b.len() {
            let key = varint(b, &mut at);
            let f = match key & 7 {
                0 => Field::Varint(varint(b, &mut at)),
                1 => {
                    at += 8;
                    Field::Fixed64(b[at - 8..at].try_into().unwrap())
                }
                2 => {
                    let n = varint(b, &mut at) as usize;
                    at += n;
                    Field::Bytes(b[at - n..at].to_vec())
                }
                5 => {
                    at += 4;
                    Field::Fixed32(b[at - 4..at].try_into().unwrap())
                }
                w => panic!("unexpected wire type {w}"),
            };
            out.push((key >> 3, f));
        }
        out
    }

    #[derive(Debug, Default)]
    struct Event {
        wall_time: f64,
        step: i64,
        file_version: Option<String>,
        values: Vec<(String, f32)>,
    }

    fn decode_event(b: &[u8]) -> Event {
        let mut ev = Event::default();
        for (num, f) in fields(b) {
            match (num, f) {
                (1, Field::Fixed64(x)) => ev.wall_time = f64::from_le_bytes(x),
                (2, Field::Varint(x)) => ev.step = x as i64,
                (3, Field::Bytes(s)) => ev.file_version = Some(String::from_utf8(s).unwrap()),
                (5, Field::Bytes(summary)) => {
                    for (n, v) in fields(&summary) {
                        let (1, Field::Bytes(value)) = (n, v) else { panic!("bad Summary field {n}") };
                        let (mut tag, mut val) = (None, None);
                        for (n, f) in fields(&value) {
                            match (n, f) {
                                (1, Field::Bytes(t)) => tag = Some(String::from_utf8(t).unwrap()),
                                (2, Field::Fixed32(x)) => val = Some(f32::from_le_bytes(x)),
                                other => panic!("bad Value field {other:?}"),
                            }
                        }
                        ev.values.push((tag.unwrap(), val.unwrap()));
                    }
                }
                other => panic!("bad Event field {other:?}"),
            }
        }
        ev
    }

    pub(crate) fn read_event_file(path: &Path) -> Vec<(i64, f64, Option<String>, Vec<(String, f32)>)> {
        let bytes = std::fs::read(path).unwrap();
        read_records(&bytes)
            .iter()
            .map(|r| {
                let e = decode_event(r);
                (e.step, e.wall_time, e.file_version, e.values)
            })
            .collect()
    }

    #[test]
    fn crc32c_check_values() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c_bitwise(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        // RFC 3720 B.4: 32 bytes of zeros, of 0xff, and ascending.
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
        let asc: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&asc), 0x46DD_794E);
        for n in [1usize, 7, 64, 1000] {
            let d: Vec<u8> = (0..n).map(|i| (i * 31 + 7) as u8).collect();
            assert_eq!(crc32c(&d), crc32c_bitwise(&d));
        }
        let m = masked_crc32c(b"abc");
        assert_eq!(unmask(m), crc32c(b"abc"));
    }

    #[test]
    fn negative_and_large_steps_encode_as_int64() {
        for step in [1i64, 127, 128, 300, 1 << 40, -1, i64::MAX] {
            let ev = decode_event(&encode_event(1.5, step, &EventBody::Scalars(&[("a/b".into(), 0.25)])));
            assert_eq!(ev.step, step);
            assert_eq!(ev.wall_time, 1.5);
            assert_eq!(ev.values, vec![("a/b".to_string(), 0.25)]);
        }
    }

    #[test]
    fn record_scalars_name_model_split_field() {
        let r = Record {
            epoch: 2,
            step: 40,
            model: "teacher".into(),
            split: "valid".into(),
            loss: 4.5,
            kind: RecordKind::LanguageModel { perplexity: 90.0 },
            wall_s: 3.0,
            ..Default::default()
        };
        assert_eq!(
            record_scalars(&r),
            vec![("teacher/valid/loss".to_string(), 4.5), ("teacher/valid/perplexity".to_string(), 90.0)]
        );
    }

    #[test]
    fn metrics_writer_writes_an_event_file_next_to_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = crate::track::MetricsWriter::create(&dir.path().join("metrics.jsonl")).unwrap();
        let recs = [
            Record { epoch: 1, step: 10, model: "teacher".into(), split: "train".into(), loss: 0.75, lr: Some(0.1), wall_s: 1.0, samples_per_s: Some(500.0), kind: RecordKind::Classification { accuracy: 70.0 }, ..Default::default() },
            Record { epoch: 1, step: 10, model: "teacher".into(), split: "test".into(), loss: 0.5, wall_s: 1.5, kind: RecordKind::Classification { accuracy: 81.5 }, ..Default::default() },
            Record { epoch: 1, step: 10, model: "student0".into(), split: "train".into(), loss: 0.875, lr: Some(0.1), wall_s: 1.5, ..Default::default() },
            Record { epoch: 2, step: 3_000_000_000, model: "teacher".into(), split: "rollout".into(), loss: 0.0, wall_s: 2.0, kind: RecordKind::Episode { episodic_return: -21.0, episode_length: 812.0 }, ..Default::default() },
        ];
        for r in &recs {
            w.write(r).unwrap();
            // Flushed after each write: the file is complete and parseable at every point.
            let files: Vec<PathBuf> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().contains("tfevents")).collect();
            assert_eq!(files.len(), 1);
            read_event_file(&files[0]);
        }
        let files: Vec<PathBuf> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().contains("tfevents")).collect();
        let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("events.out.tfevents.") && name.ends_with(".lot"), "{name}");
        let secs: u64 = name.split('.').nth(3).unwrap().parse().unwrap();
        let events = read_event_file(&files[0]);
        assert_eq!(events.len(), 1 + recs.len());
        assert_eq!(events[0].2.as_deref(), Some("brain.Event:2"));
        assert!(events[0].3.is_empty());
        assert!((events[0].1 - secs as f64).abs() < 2.0, "wall time {} vs name {secs}", events[0].1);
        let v = |s: &str, x: f32| (s.to_string(), x);
        assert_eq!(events[1].0, 10);
        assert_eq!(
            events[1].3,
            vec![v("teacher/train/loss", 0.75), v("teacher/train/accuracy", 70.0), v("teacher/train/lr", 0.1), v("teacher/train/samples_per_s", 500.0)]
        );
        assert_eq!(events[2].3, vec![v("teacher/test/loss", 0.5), v("teacher/test/accuracy", 81.5)]);
        assert_eq!(events[3].3, vec![v("student0/train/loss", 0.875), v("student0/train/lr", 0.1)]);
        assert_eq!(events[4].0, 3_000_000_000);
        assert_eq!(
            events[4].3,
            vec![v("teacher/rollout/loss", 0.0), v("teacher/rollout/episode_length", 812.0), v("teacher/rollout/episodic_return", -21.0)]
        );
        for e in &events {
            assert!(e.1 >= events[0].1 && e.1 < events[0].1 + 60.0);
        }
        // metrics.jsonl is unchanged by the event file.
        assert_eq!(crate::track::read_metrics(&dir.path().join("metrics.jsonl")).unwrap(), recs.to_vec());
    }

    #[test]
    fn two_writers_in_one_second_get_two_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = EventWriter::create(dir.path()).unwrap();
        let mut b = EventWriter::create(dir.path()).unwrap();
        assert_ne!(a.path(), b.path());
        a.add_scalar("x", 1.0, 1).unwrap();
        b.add_scalar("x", 2.0, 1).unwrap();
        assert_eq!(read_event_file(a.path())[1].3, vec![("x".to_string(), 1.0)]);
        assert_eq!(read_event_file(b.path())[1].3, vec![("x".to_string(), 2.0)]);
    }

    /// Cross-check with TensorBoard's own reader where it is installed (it is not required).
    #[test]
    fn tensorboard_reads_the_file_if_installed() {
        let py = ["python3", "python"].into_iter().find(|p| {
            std::process::Command::new(p).args(["-c", "import tensorboard"]).output().map(|o| o.status.success()).unwrap_or(false)
        });
        let Some(py) = py else {
            crate::testing::skip("tensorboard_reads_the_file_if_installed", "python tensorboard not installed");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path()).unwrap();
        w.add_scalar("teacher/test/accuracy", 81.5, 7).unwrap();
        let script = "import sys\nfrom tensorboard.backend.event_processing.event_accumulator import EventAccumulator as E\n\
                      e=E(sys.argv[1]); e.Reload(); s=e.Scalars('teacher/test/accuracy')[0]; print(s.step, s.value)";
        let o = std::process::Command::new(py).args(["-c", script, w.path().to_str().unwrap()]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "7 81.5");
    }
}
