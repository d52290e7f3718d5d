//! The README stays true to the code: its Redis app is the
//! `readme_redis` example (which CI builds) character for character, and its
//! features table lists every feature of this crate.

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
