//! The Atari ROMs: the ALE 0.12.1 table (file stem → md5) and their source, the PyPI `ale-py==0.12.1`
//! wheel (its `ale_py/roms/` folder and `md5.json`), installed into `<data root>/atari-roms/` after
//! every file is checked against the table. Game names → ROM files live in `rl::atari::roms`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use super::registry::{install, DataStatus, md5_hex, read, run, verify_md5, verify_sha256, TempDir};
use crate::bail_input;
use crate::error::input_err;

/// The folder (under the data root) the ROMs are installed in.
pub const ROM_DIR: &str = "atari-roms";

/// The four games of the LoT paper's Atari experiments, with their md5 (docs/data.md; identical
/// in ale-py 0.9.0, 0.11.2 and 0.12.1).
pub const PAPER_GAMES: [(&str, &str); 4] = [
    ("beam_rider", "79ab4123a83dc11d468fb2108ea09e2e"),
    ("breakout", "f34f08e5eb96e500e851a80be3277a56"),
    ("gravitar", "8ac18076d01a6b63acf6e2cab4968940"),
    ("up_n_down", "a499d720e7ee35c62424de882a3351b6"),
];

/// Every ROM of the ale-py 0.12.1 wheel (`ale_py/roms/md5.json`), by file stem, sorted.
pub const ROMS: [(&str, &str); 108] = [
    ("adventure", "4b27f5397c442d25f0c418ccdacf1926"),
    ("air_raid", "35be55426c1fec32dfb503b4f0651572"),
    ("alien", "f1a0a23e6464d954e3a9579c4ccd01c8"),
    ("amidar", "acb7750b4d0c4bd34969802a7deb2990"),
    ("assault", "de78b3a064d374390ac0710f95edde92"),
    ("asterix", "89a68746eff7f266bbf08de2483abe55"),
    ("asteroids", "ccbd36746ed4525821a8083b0d6d2c2c"),
    ("atlantis", "9ad36e699ef6f45d9eb6c4cf90475c9f"),
    ("atlantis2", "826481f6fc53ea47c9f272f7050eedf7"),
    ("backgammon", "8556b42aa05f94bc29ff39c39b11bff4"),
    ("bank_heist", "00ce0bdd43aed84a983bef38fe7f5ee3"),
    ("basic_math", "819aeeb9a2e11deb54e6de334f843894"),
    ("battle_zone", "41f252a66c6301f1e8ab3612c19bc5d4"),
    ("beam_rider", "79ab4123a83dc11d468fb2108ea09e2e"),
    ("berzerk", "136f75c4dd02c29283752b7e5799f978"),
    ("blackjack", "0a981c03204ac2b278ba392674682560"),
    ("bowling", "c9b7afad3bfd922e006a6bfc1d4f3fe7"),
    ("boxing", "c3ef5c4653212088eda54dc91d787870"),
    ("breakout", "f34f08e5eb96e500e851a80be3277a56"),
    ("carnival", "028024fb8e5e5f18ea586652f9799c96"),
    ("casino", "b816296311019ab69a21cb9e9e235d12"),
    ("centipede", "91c2098e88a6b13f977af8c003e0bca5"),
    ("chopper_command", "c1cb228470a87beb5f36e90ac745da26"),
    ("combat", "0ef64cdbecccb7049752a3de0b7ade14"),
    ("crazy_climber", "55ef7b65066428367844342ed59f956c"),
    ("crossbow", "8cd26dcf249456fe4aeb8db42d49df74"),
    ("darkchambers", "106855474c69d08c8ffa308d47337269"),
    ("defender", "0f643c34e40e3f1daafd9c524d3ffe64"),
    ("demon_attack", "f0e0addc07971561ab80d9abe1b8d333"),
    ("donkey_kong", "36b20c427975760cb9cf4a47e41369e4"),
    ("double_dunk", "368d88a6c071caba60b4f778615aae94"),
    ("earthworld", "5aea9974b975a6a844e6df10d2b861c4"),
    ("elevator_action", "71f8bacfbdca019113f3f0801849057e"),
    ("enduro", "94b92a882f6dbaa6993a46e2dcc58402"),
    ("entombed", "6b683be69f92958abe0e2a9945157ad5"),
    ("et", "615a3bf251a38eb6638cdc7ffbde5480"),
    ("fishing_derby", "b8865f05676e64f3bec72b9defdacfa7"),
    ("flag_capture", "30512e0e83903fc05541d2f6a6a62654"),
    ("freeway", "8e0ab801b1705a740b476b7f588c6d16"),
    ("frogger", "081e2c114c9c20b61acf25fc95c71bf4"),
    ("frostbite", "4ca73eb959299471788f0b685c3ba0b5"),
    ("galaxian", "211774f4c5739042618be8ff67351177"),
    ("gopher", "c16c79aad6272baffb8aae9a7fff0864"),
    ("gravitar", "8ac18076d01a6b63acf6e2cab4968940"),
    ("hangman", "f16c709df0a6c52f47ff52b9d95b7d8d"),
    ("haunted_house", "f0a6e99f5875891246c3dbecbf2d2cea"),
    ("hero", "fca4a5be1251927027f2c24774a02160"),
    ("human_cannonball", "7972e5101fa548b952d852db24ad6060"),
    ("ice_hockey", "a4c08c4994eb9d24fb78be1793e82e26"),
    ("jamesbond", "e51030251e440cffaab1ac63438b44ae"),
    ("journey_escape", "718ae62c70af4e5fd8e932fee216948a"),
    ("joust", "3276c777cbe97cdd2b4a63ffc16b7151"),
    ("kaboom", "5428cdfada281c569c74c7308c7f2c26"),
    ("kangaroo", "4326edb70ff20d0ee5ba58fa5cb09d60"),
    ("keystone_kapers", "6c1f3f2e359dbf55df462ccbcdd2f6bf"),
    ("king_kong", "0dd4c69b5f9a7ae96a7a08329496779a"),
    ("klax", "eed9eaf1a0b6a2b9bc4c8032cb43e3fb"),
    ("koolaid", "534e23210dd1993c828d944c6ac4d9fb"),
    ("krull", "4baada22435320d185c95b7dd2bcdb24"),
    ("kung_fu_master", "5b92a93b23523ff16e2789b820e2a4c5"),
    ("laser_gates", "8e4cd60d93fcde8065c1a2b972a26377"),
    ("lost_luggage", "2d76c5d1aad506442b9e9fb67765e051"),
    ("mario_bros", "e908611d99890733be31733a979c62d8"),
    ("maze_craze", "ed2218b3075d15eaa34e3356025ccca3"),
    ("miniature_golf", "df62a658496ac98a3aa4a6ee5719c251"),
    ("montezuma_revenge", "3347a6dd59049b15a38394aa2dafa585"),
    ("mr_do", "aa7bb54d2c189a31bb1fa20099e42859"),
    ("ms_pacman", "87e79cd41ce136fd4f72cc6e2c161bee"),
    ("name_this_game", "36306070f0c90a72461551a7a4f3a209"),
    ("othello", "113cd09c9771ac278544b7e90efe7df2"),
    ("pacman", "fc2233fc116faef0d3c31541717ca2db"),
    ("phoenix", "7e52a95074a66640fcfde124fffd491a"),
    ("pitfall", "3e90cf23106f2e08b2781e41299de556"),
    ("pitfall2", "6d842c96d5a01967be9680080dd5be54"),
    ("pong", "60e0ea3cbe0913d39803477945e9e5ec"),
    ("pooyan", "4799a40b6e889370b7ee55c17ba65141"),
    ("private_eye", "ef3a4f64b6494ba770862768caf04b86"),
    ("qbert", "484b0076816a104875e00467d431c2d2"),
    ("riverraid", "393948436d1f4cc3192410bb918f9724"),
    ("road_runner", "ce5cc62608be2cd3ed8abd844efb8919"),
    ("robotank", "4f618c2429138e0280969193ed6c107e"),
    ("seaquest", "240bfbac5163af4df5ae713985386f92"),
    ("sir_lancelot", "dd0cbe5351551a538414fb9e37fc56e8"),
    ("skiing", "b76fbadc8ffb1f83e2ca08b6fb4d6c9f"),
    ("solaris", "e72eb8d4410152bdcb69e7fba327b420"),
    ("space_invaders", "72ffbef6504b75e69ee1045af9075f66"),
    ("space_war", "b702641d698c60bcdc922dbd8c9dd49c"),
    ("star_gunner", "a3c1c70024d7aabb41381adbfb6d3b25"),
    ("superman", "a9531c763077464307086ec9a1fd057d"),
    ("surround", "4d7517ae69f95cfbc053be01312b7dba"),
    ("tennis", "42cdd6a9e42a3639e190722b8ea3fc51"),
    ("tetris", "b0e1ee07fbc73493eac5651a52f90f00"),
    ("tic_tac_toe_3d", "0db4f4150fecf77e4ce72ca4d04c052f"),
    ("time_pilot", "fc2104dd2dadf9a6176c1c1c8f87ced9"),
    ("trondead", "fb27afe896e7c928089307b32e5642ee"),
    ("turmoil", "7a5463545dfb2dcfdafa6074b2f2c15e"),
    ("tutankham", "085322bae40d904f53bdcc56df0593fc"),
    ("up_n_down", "a499d720e7ee35c62424de882a3351b6"),
    ("venture", "3e899eba0ca8cd2972da1ae5479b4f0d"),
    ("video_checkers", "539d26b6e9df0da8e7465f0f5ad863b7"),
    ("video_chess", "f0b7db930ca0e548c41a97160b9f6275"),
    ("video_cube", "3f540a30fdee0b20aed7288e4a5ea528"),
    ("video_pinball", "107cc025334211e6d29da0b6be46aec7"),
    ("warlords", "cbe5a166550a8129a5e6d374901dffad"),
    ("wizard_of_wor", "7e8aa18bc9502eb57daaf5e7c1e94da7"),
    ("word_zapper", "ec3beb6d8b5689e867bafb5d5f507491"),
    ("yars_revenge", "c5930d0e8cdae3e037349bfa08e871be"),
    ("zaxxon", "eea0da9b987d661264cce69a7c13c3bd"),
];

/// The md5 of ROM `stem` ("breakout"), if ALE 0.12.1 knows the game.
pub fn rom_md5(stem: &str) -> Option<&'static str> {
    ROMS.binary_search_by(|(s, _)| s.cmp(&stem)).ok().map(|i| ROMS[i].1)
}

/// `<root>/atari-roms`: where `lot data fetch atari-roms` puts the ROMs under data root `root`.
pub fn rom_dir(root: &Path) -> PathBuf {
    root.join(ROM_DIR)
}

// Atari ROMs (docs/data.md): the ale-py 0.12.1 wheel for CPython 3.11 / manylinux x86_64 (pip picks
// it by platform tags, so they are pinned: the ROMs are identical in every wheel of a version).
const ATARI_PIP_SPEC: &str = "ale-py==0.12.1";
const ATARI_WHEEL: &str = "ale_py-0.12.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl";
const ATARI_WHEEL_SHA256: &str = "ba7429074ba6ffc1555f9a41bf00bee5d427b5080253101a8fe00412ca481033";
const ATARI_PIP_TAGS: [&str; 6] =
    ["--python-version", "3.11", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64"];
/// Copies `ale_py/roms/*.bin` and `md5.json` out of the wheel (a zip) into a folder, flat.
const ATARI_EXTRACT: &str = r#"
import os, sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
n = 0
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        base = name[len('ale_py/roms/'):]
        if name.startswith('ale_py/roms/') and '/' not in base and (base.endswith('.bin') or base == 'md5.json'):
            with open(os.path.join(out, base), 'wb') as f:
                f.write(z.read(name))
            n += 1
if n == 0:
    sys.exit('no ale_py/roms/ files in ' + whl)
"#;

/// The Atari ROMs: present when all 108 are there with the right md5.
pub(crate) fn status(root: &Path) -> DataStatus {
    let path = rom_dir(root);
    let present = verified(&path);
    let note = if present {
        "present".to_string()
    } else {
        "missing: run `lot data fetch atari-roms` (PyPI ale-py==0.12.1 wheel, 108 ROMs)".to_string()
    };
    DataStatus { name: "atari-roms".to_string(), present, path, note }
}

/// True when every ROM of the table is in `dir` with its md5, and md5.json is there.
pub(crate) fn verified(dir: &Path) -> bool {
    dir.join("md5.json").is_file()
        && ROMS.iter().all(|(stem, md5)| {
            std::fs::read(dir.join(format!("{stem}.bin")))
                .map(|b| md5_hex(&b) == *md5)
                .unwrap_or(false)
        })
}

pub(crate) fn fetch(root: &Path) -> Result<()> {
    let dest = rom_dir(root);
    if verified(&dest) {
        eprintln!("atari-roms: already present and verified in {}", dest.display());
        return Ok(());
    }
    let tmp = TempDir::new()?;
    eprintln!("fetching {ATARI_PIP_SPEC} (wheel, for its ROMs) with pip download ...");
    run(Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(ATARI_PIP_TAGS)
        .arg("-d")
        .arg(tmp.path())
        .arg(ATARI_PIP_SPEC))?;
    let wheel = tmp.path().join(ATARI_WHEEL);
    verify_sha256(&wheel, &read(&wheel)?, ATARI_WHEEL_SHA256)?;
    let out = tmp.path().join("roms");
    run(Command::new("python3").arg("-c").arg(ATARI_EXTRACT).arg(&wheel).arg(&out))?;
    let files = check_atari_roms(&out)?;
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    install(&dest, &files)
}

/// Check an extracted ROM folder: md5.json must list exactly the ROMs of our table with the same
/// md5s (in particular the four paper games of docs/data.md), and every file must match. Returns the
/// files to install (the ROMs, then md5.json).
fn check_atari_roms(dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let json_path = dir.join("md5.json");
    let json = read(&json_path)?;
    let listed: BTreeMap<String, String> = serde_json::from_slice(&json)
        .map_err(|e| input_err(format!("data fetch: {}: not a JSON object of md5s: {e}", json_path.display())))?;
    let ours: BTreeMap<String, String> =
        ROMS.iter().map(|(s, m)| (format!("{s}.bin"), m.to_string())).collect();
    if listed != ours {
        let differ: Vec<&String> = ours
            .keys()
            .chain(listed.keys())
            .filter(|k| listed.get(*k) != ours.get(*k))
            .take(5)
            .collect();
        bail_input!(
            "data fetch: {} differs from the ALE 0.12.1 ROM table (first differing: {differ:?})",
            json_path.display()
        );
    }
    for (stem, md5) in PAPER_GAMES {
        debug_assert_eq!(ours.get(&format!("{stem}.bin")).map(String::as_str), Some(md5));
    }
    let mut files = Vec::with_capacity(ROMS.len() + 1);
    for (name, md5) in &ours {
        let p = dir.join(name);
        let bytes = read(&p)?;
        if md5_hex(&bytes) != *md5 {
            verify_md5(&p, &bytes, md5)?; // the error names file, expected and actual
        }
        files.push((name.clone(), bytes));
    }
    for (stem, md5) in PAPER_GAMES {
        let p = dir.join(format!("{stem}.bin"));
        verify_md5(&p, &read(&p)?, md5)?;
    }
    eprintln!("verified md5 of all {} ROMs against the table", ROMS.len());
    files.push(("md5.json".to_string(), json));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::input_error_text as msg;

    #[test]
    fn table_is_sorted_and_holds_the_paper_games() {
        assert!(ROMS.windows(2).all(|w| w[0].0 < w[1].0));
        for (stem, md5) in PAPER_GAMES {
            assert_eq!(rom_md5(stem), Some(md5), "{stem}");
        }
        assert_eq!(rom_md5("tetris"), Some("b0e1ee07fbc73493eac5651a52f90f00"));
        assert_eq!(rom_md5("no_such_game"), None);
    }

    #[test]
    fn atari_rom_folder_checks() {
        let d = tempfile::tempdir().unwrap();
        assert!(!verified(d.path()));
        // md5.json must be exactly the ALE 0.12.1 table
        std::fs::write(d.path().join("md5.json"), br#"{"breakout.bin": "f34f08e5eb96e500e851a80be3277a56"}"#).unwrap();
        let m = msg(check_atari_roms(d.path()).unwrap_err());
        assert!(m.contains("differs from the ALE 0.12.1 ROM table") && m.contains("adventure.bin"), "{m}");
        std::fs::write(d.path().join("md5.json"), b"[1, 2]").unwrap();
        let m = msg(check_atari_roms(d.path()).unwrap_err());
        assert!(m.contains("not a JSON object of md5s"), "{m}");
        // the right table, but a ROM with the wrong bytes
        let table: BTreeMap<String, String> = ROMS
            .iter()
            .map(|(s, m)| (format!("{s}.bin"), m.to_string()))
            .collect();
        std::fs::write(d.path().join("md5.json"), serde_json::to_vec(&table).unwrap()).unwrap();
        std::fs::write(d.path().join("adventure.bin"), b"not adventure").unwrap();
        let m = msg(check_atari_roms(d.path()).unwrap_err());
        assert!(m.contains("adventure.bin") && m.contains("md5 mismatch") && m.contains("4b27f5397c442d25f0c418ccdacf1926"), "{m}");
        assert!(crate::data::fetch::FETCHABLE.contains(&"atari-roms"));
    }

    /// Real fetch from PyPI (the ale-py 0.12.1 wheel, about 3 MB).
    #[test]
    #[ignore]
    fn real_fetch_atari_roms() {
        let root = tempfile::tempdir().unwrap();
        crate::data::fetch::fetch("atari-roms", root.path()).unwrap();
        let dir = rom_dir(root.path());
        assert!(verified(&dir));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 109); // 108 ROMs + md5.json
        assert!(crate::data::fetch::list(root.path()).iter().any(|s| s.name == "atari-roms" && s.present));
        crate::data::fetch::fetch("atari-roms", root.path()).unwrap(); // already present: no download
    }
}
