//! The config reference, built from the config's own source: a key's meaning is the `///` comment
//! on its field (and, for an enum defined beside the config, on each variant), its default what the
//! task's default config serializes to. `lot config` prints it and the README's key tables are
//! this output between `<!-- config-keys:PART -->` and `<!-- /config-keys -->` (a test keeps them
//! equal; `LOT_BLESS=1` or `lot config --update-readme README.md` rewrites them).
//!
//! The source is read as text: a section struct's keys are its `pub name: Type,` lines with the
//! `///` lines above them (attributes skipped); a field whose type is a struct of these files is a
//! section of its own (`[data]` = `VisionConfig.data: DataConfig`).

use anyhow::Result;

use super::{Config, Task, HEAD_KEYS};

/// The config source files, as compiled.
const SOURCES: [(&str, &str); 5] = [
    ("config/mod.rs", include_str!("mod.rs")),
    ("config/common.rs", include_str!("common.rs")),
    ("vision/config.rs", include_str!("../vision/config.rs")),
    ("text/config.rs", include_str!("../text/config.rs")),
    ("rl/config.rs", include_str!("../rl/config.rs")),
];

/// A reference table: the keys every task shares (`task`, `[run]`, `[lot]`) or one task's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Shared,
    Task(Task),
}

impl Part {
    /// Every table, in the README's order, with its marker name.
    pub const ALL: [(&str, Part); 4] =
        [("shared", Part::Shared), ("vision", Part::Task(Task::Vision)), ("text", Part::Task(Task::Text)), ("rl", Part::Task(Task::Rl))];

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, p)| *p == self).map(|(n, _)| *n).expect("every part is listed")
    }

    /// A heading for the table.
    pub fn title(self) -> &'static str {
        match self {
            Part::Shared => "Every task: `task`, `[run]`, `[lot]`",
            Part::Task(Task::Vision) => "task = \"vision\": `[data]`, `[model]`, `[train]`",
            Part::Task(Task::Text) => "task = \"text\": `[data]`, `[model]`, `[train]`",
            Part::Task(Task::Rl) => "task = \"rl\": `[env]`, `[ppo]`, `[eval]`",
        }
    }

    pub fn from_name(name: &str) -> Option<Part> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
    }
}

/// One row of the reference.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    /// `section.key`, or `task`.
    pub key: String,
    /// The default as TOML (`"cpu"`, `0.5`, `[]`), or `required`. A key the config leaves out when
    /// it has its default shows `[]` (a list), `""` (a string), or `unset` (its meaning says more).
    pub default: String,
    /// The field's doc comment, then the enum's values with theirs.
    pub meaning: String,
}

/// A `pub` field or an enum variant with its doc comment (lines joined by spaces).
#[derive(Clone, Debug)]
struct Member {
    name: String,
    ty: String,
    doc: String,
}

#[derive(Clone, Debug)]
struct Item {
    file: &'static str,
    name: String,
    is_enum: bool,
    snake_case: bool,
    members: Vec<Member>,
}

/// Every `pub struct` / `pub enum` of one source file (its tests left out).
fn parse_items(file: &'static str, src: &str) -> Vec<Item> {
    let src = src.split("#[cfg(test)]").next().unwrap_or(src);
    let mut items = Vec::new();
    let (mut doc, mut snake) = (Vec::<String>::new(), false);
    let mut current: Option<Item> = None;
    for line in src.lines() {
        let t = line.trim();
        if let Some(d) = t.strip_prefix("///") {
            doc.push(d.strip_prefix(' ').unwrap_or(d).to_string());
            continue;
        }
        if t.starts_with("#[") {
            snake |= t.contains("rename_all = \"snake_case\"");
            continue;
        }
        if t.starts_with("//") || t.is_empty() {
            continue;
        }
        match &mut current {
            None => {
                let head = t.strip_prefix("pub struct ").map(|r| (r, false)).or_else(|| t.strip_prefix("pub enum ").map(|r| (r, true)));
                if let Some((rest, is_enum)) = head.filter(|(r, _)| r.ends_with('{')) {
                    let name = rest.trim_end_matches('{').trim().to_string();
                    current = Some(Item { file, name, is_enum, snake_case: snake, members: Vec::new() });
                }
            }
            Some(item) => {
                if t.starts_with('}') {
                    items.push(current.take().expect("inside an item"));
                } else if item.is_enum {
                    let name = t.trim_end_matches(',').trim();
                    if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        item.members.push(Member { name: name.into(), ty: String::new(), doc: doc.join(" ") });
                    }
                } else if let Some((name, ty)) = t.strip_prefix("pub ").and_then(|r| r.split_once(':')) {
                    let ty = ty.trim().trim_end_matches(',').trim().to_string();
                    item.members.push(Member { name: name.trim().into(), ty, doc: doc.join(" ") });
                }
            }
        }
        doc.clear();
        snake = false;
    }
    items
}

fn all_items() -> Vec<Item> {
    SOURCES.iter().flat_map(|(f, s)| parse_items(f, s)).collect()
}

/// The item a field's type names (`crate::precision::Precision` → `Precision`), preferring the
/// field's own file.
fn lookup<'a>(items: &'a [Item], file: &str, ty: &str) -> Option<&'a Item> {
    let base = ty.rsplit("::").next().unwrap_or(ty);
    let named = |i: &&Item| i.name == base;
    items.iter().filter(|i| i.file == file).find(named).or_else(|| items.iter().find(named))
}

fn item<'a>(items: &'a [Item], name: &str) -> &'a Item {
    items.iter().find(|i| i.name == name && !i.is_enum).unwrap_or_else(|| panic!("config source has no struct {name}"))
}

/// The struct whose fields are this task's own sections.
fn domain_root(task: Task) -> &'static str {
    match task {
        Task::Vision => "VisionConfig",
        Task::Text => "TextConfig",
        Task::Rl => "RlConfig",
    }
}

/// The smallest config of each task; its keys are the required ones.
fn minimal(task: Task) -> &'static str {
    match task {
        Task::Vision => "task = \"vision\"\n",
        Task::Text => "task = \"text\"\n",
        // RL students have no labels: the shared default loss (kl_ce) is refused.
        Task::Rl => "task = \"rl\"\n[lot]\nloss = \"kl\"\n[env]\nname = \"CartPole-v1\"\n",
    }
}

/// `TeacherOnly` → `teacher_only`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// The keys under `prefix` of struct `s`, as (key, field, the struct holding it), sections flattened.
fn walk<'a>(items: &'a [Item], s: &'a Item, prefix: &str, out: &mut Vec<(String, &'a Member, &'a Item)>) {
    for m in &s.members {
        match lookup(items, s.file, &m.ty) {
            Some(sub) if !sub.is_enum => walk(items, sub, &format!("{prefix}{}.", m.name), out),
            _ => out.push((format!("{prefix}{}", m.name), m, s)),
        }
    }
}

/// The keys of one part, with the field that defines each.
fn fields(items: &[Item], part: Part) -> Vec<(String, &Member, &Item)> {
    let mut out = Vec::new();
    match part {
        Part::Shared => {
            let config = item(items, "Config");
            for key in HEAD_KEYS {
                let m = config.members.iter().find(|m| m.name == key).unwrap_or_else(|| panic!("Config has no field {key}"));
                match lookup(items, config.file, &m.ty) {
                    Some(sub) if !sub.is_enum => walk(items, sub, &format!("{key}."), &mut out),
                    _ => out.push((key.to_string(), m, config)),
                }
            }
        }
        Part::Task(task) => walk(items, item(items, domain_root(task)), "", &mut out),
    }
    out
}

/// A field's meaning: its doc comment, then its enum's values with their doc comments.
fn meaning(items: &[Item], file: &str, m: &Member) -> String {
    let mut text = m.doc.clone();
    if let Some(e) = lookup(items, file, &m.ty).filter(|i| i.is_enum) {
        for v in &e.members {
            let name = if e.snake_case { snake(&v.name) } else { v.name.clone() };
            text.push_str(&format!(" `{name}`: {}", v.doc));
        }
    }
    text
}

fn get<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut v = table.get(parts.next()?)?;
    for p in parts {
        v = v.as_table()?.get(p)?;
    }
    Some(v)
}

/// The reference rows of one part, in source order.
pub fn keys(part: Part) -> Result<Vec<Key>> {
    let items = all_items();
    let task = match part {
        Part::Shared => Task::Vision, // every task shares these defaults
        Part::Task(t) => t,
    };
    let defaults: toml::Table = toml::from_str(&Config::from_toml(minimal(task), &[], "defaults")?.to_toml())?;
    let required: toml::Table = toml::from_str(minimal(task))?;
    Ok(fields(&items, part)
        .into_iter()
        .map(|(key, m, owner)| {
            let default = if get(&required, &key).is_some() {
                "required".to_string()
            } else {
                match get(&defaults, &key) {
                    Some(v) => format!("`{v}`"),
                    None if m.ty.starts_with("Vec<") => "`[]`".into(),
                    None if m.ty == "String" => "`\"\"`".into(),
                    None => "unset".into(),
                }
            };
            Key { key, default, meaning: meaning(&items, owner.file, m) }
        })
        .collect())
}

/// One part's reference as a Markdown table.
pub fn markdown(part: Part) -> Result<String> {
    let mut s = String::from("| key | default | meaning |\n|---|---|---|\n");
    for k in keys(part)? {
        s.push_str(&format!("| `{}` | {} | {} |\n", k.key, k.default.replace('|', "\\|"), k.meaning.replace('|', "\\|")));
    }
    Ok(s)
}

/// Every field and enum variant the config reference reads that has no doc comment, as
/// `file: Type.member`.
pub fn undocumented() -> Vec<String> {
    let items = all_items();
    let mut out = Vec::new();
    let mut check = |owner: &Item, m: &Member| {
        let name = format!("{}: {}.{}", owner.file, owner.name, m.name);
        if m.doc.trim().is_empty() && !out.contains(&name) {
            out.push(name);
        }
    };
    for (_, part) in Part::ALL {
        for (_, m, owner) in fields(&items, part) {
            check(owner, m);
            if let Some(e) = lookup(&items, owner.file, &m.ty).filter(|i| i.is_enum) {
                e.members.iter().for_each(|v| check(e, v));
            }
        }
    }
    out
}

pub const END_MARKER: &str = "<!-- /config-keys -->";

/// `readme` with every `<!-- config-keys:PART -->` … `<!-- /config-keys -->` block holding the
/// part's current table.
pub fn render_readme(readme: &str) -> Result<String> {
    let mut out = String::new();
    let mut rest = readme;
    while let Some(start) = rest.find("<!-- config-keys:") {
        let open_end = start + rest[start..].find("-->").ok_or_else(|| anyhow::anyhow!("unclosed config-keys marker"))? + 3;
        let name = rest[start + "<!-- config-keys:".len()..open_end - 3].trim();
        let part = Part::from_name(name).ok_or_else(|| anyhow::anyhow!("config-keys:{name}: no such table (shared, vision, text, rl)"))?;
        let close = open_end + rest[open_end..].find(END_MARKER).ok_or_else(|| anyhow::anyhow!("config-keys:{name}: no {END_MARKER}"))?;
        out.push_str(&rest[..open_end]);
        out.push('\n');
        out.push_str(&markdown(part)?);
        out.push_str(END_MARKER);
        rest = &rest[close + END_MARKER.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_and_variant_has_a_doc_comment() {
        let missing = undocumented();
        assert!(missing.is_empty(), "config fields without a /// comment (say what the key means):\n{}", missing.join("\n"));
    }

    /// The parser sees every key the config serializes (nothing silently missing from the tables).
    #[test]
    fn reference_covers_every_serialized_key() {
        for task in [Task::Vision, Task::Text, Task::Rl] {
            let doc: toml::Table = toml::from_str(&Config::from_toml(minimal(task), &[], "t").unwrap().to_toml()).unwrap();
            let mut listed: Vec<String> = keys(Part::Shared).unwrap().into_iter().map(|k| k.key).collect();
            listed.extend(keys(Part::Task(task)).unwrap().into_iter().map(|k| k.key));
            for (section, v) in &doc {
                match v.as_table() {
                    Some(t) => t.keys().for_each(|k| assert!(listed.contains(&format!("{section}.{k}")), "{task:?}: {section}.{k} not in the reference")),
                    None => assert!(listed.contains(section), "{task:?}: {section} not in the reference"),
                }
            }
        }
        let vision = keys(Part::Task(Task::Vision)).unwrap();
        let depth = vision.iter().find(|k| k.key == "model.depth").unwrap();
        assert_eq!(depth.default, "`\"20_20\"`");
        let shared = keys(Part::Shared).unwrap();
        assert_eq!(shared[0].default, "required");
        assert!(shared.iter().any(|k| k.key == "lot.mode" && k.meaning.contains("`teacher_only`: ")), "{shared:?}");
        let rl = keys(Part::Task(Task::Rl)).unwrap();
        assert_eq!(rl.iter().find(|k| k.key == "env.name").unwrap().default, "required");
    }

    #[test]
    fn parser_reads_fields_docs_and_attributes() {
        let src = "/// A.\n#[derive(Debug)]\npub struct S {\n    /// The x,\n    /// two lines.\n    #[serde(skip)]\n    pub x: Vec<u8>,\n    pub y: crate::a::B,\n    z: u8,\n}\n#[serde(rename_all = \"snake_case\")]\npub enum B {\n    /// One.\n    #[default]\n    OneTwo,\n    Three,\n}\n";
        let items = parse_items("f.rs", src);
        assert_eq!(items.len(), 2);
        let s = &items[0];
        assert_eq!(s.members.iter().map(|m| (m.name.as_str(), m.ty.as_str(), m.doc.as_str())).collect::<Vec<_>>(), [("x", "Vec<u8>", "The x, two lines."), ("y", "crate::a::B", "")]);
        assert!(items[1].is_enum && items[1].snake_case);
        assert_eq!(meaning(&items, "f.rs", &s.members[1]), " `one_two`: One. `three`: ");
    }

    /// The README's key tables are what the code says. Regenerate them with
    /// `LOT_BLESS=1 cargo test --release -p lot config::reference` or `lot config --update-readme README.md`.
    #[test]
    fn readme_tables_match_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        for (name, _) in Part::ALL {
            assert!(readme.contains(&format!("<!-- config-keys:{name} -->")), "README lacks the config-keys:{name} table");
        }
        let fresh = render_readme(&readme).unwrap();
        if std::env::var_os("LOT_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(path, &fresh).unwrap();
            return;
        }
        if let Some((line, (now, want))) = readme.lines().zip(fresh.lines()).enumerate().find(|(_, (a, b))| a != b) {
            panic!(
                "README.md's config tables differ from the config source (line {}):\n  README: {now}\n  code:   {want}\n\
                 regenerate them: LOT_BLESS=1 cargo test --release -p lot config::reference (or lot config --update-readme README.md)",
                line + 1
            );
        }
        assert_eq!(fresh, readme, "README.md's config tables differ from the config source (its length); regenerate: LOT_BLESS=1 cargo test --release -p lot config::reference");
    }
}
