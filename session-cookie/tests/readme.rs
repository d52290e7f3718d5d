//! The README stays true to the code: its Redis app is the
//! `readme_redis` example (which CI builds) character for character, its
//! features table lists every feature of this crate, and its workspace map
//! lists every source file.

use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[test]
fn the_readme_redis_app_is_the_example() {
    let readme = read("../README.md");
    let example = read("examples/readme_redis.rs");
    let start = readme
        .find("## Your own app on Redis")
        .expect("the README has a section \"Your own app on Redis\"");
    let section = &readme[start..];
    let open = "```rust,no_run\n";
    let code_start = section.find(open).expect("a ```rust,no_run block") + open.len();
    let code_len = section[code_start..].find("```\n").expect("the block ends");
    let code = &section[code_start..code_start + code_len];
    if code != example {
        let line = code
            .lines()
            .zip(example.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "the lengths".to_owned(), |i| format!("line {}", i + 1));
        panic!(
            "README.md's \"Your own app on Redis\" differs from \
             session-cookie/examples/readme_redis.rs at {line}: copy the example into the README"
        );
    }
}

#[test]
fn the_features_table_lists_every_feature() {
    let readme = read("../README.md");
    let manifest = read("Cargo.toml");
    let features = manifest
        .split("[features]")
        .nth(1)
        .and_then(|s| s.split("\n[").next())
        .expect("a [features] table");
    for line in features.lines() {
        let Some((name, _)) = line.split_once(" = ") else {
            continue;
        };
        if name == "default" {
            continue;
        }
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "the README's features table has no row for `{name}`"
        );
    }
}

/// Every `src/` file of every crate has a line in the README's file map,
/// under its crate's heading.
#[test]
fn the_workspace_map_lists_every_source_file() {
    let readme = read("../README.md");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut missing = Vec::new();
    for krate in std::fs::read_dir(&root).expect("the workspace") {
        let krate = krate.expect("a workspace entry").path();
        let name = krate
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let src = krate.join("src");
        if name == "loadtest" || !src.is_dir() || !krate.join("Cargo.toml").is_file() {
            continue;
        }
        let Some(section) = readme.split(&format!("\n**{name}**\n")).nth(1) else {
            missing.push(format!("**{name}**"));
            continue;
        };
        let section = section.split("\n**").next().unwrap_or_default();
        let mut dirs = vec![src.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("a source folder") {
                let path = entry.expect("a source entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let rel = path
                        .strip_prefix(&src)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/");
                    if !section.contains(&format!("- `{rel}`: ")) {
                        missing.push(format!("{name}/src/{rel}"));
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the README's workspace map lacks: {missing:?}"
    );
}
