//! The README stays true to this crate: its actix-web app is the
//! `readme_actix` example (which CI builds) character for character, and
//! its actix-web section lists every feature of this crate.

use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The README's "actix-web" section.
fn section() -> String {
    let readme = read("../README.md");
    let start = readme
        .find("\n## actix-web\n")
        .expect("the README has a section \"actix-web\"");
    let end = readme[start + 1..]
        .find("\n## ")
        .map_or(readme.len(), |e| start + 1 + e);
    readme[start..end].to_owned()
}

#[test]
fn the_readme_actix_app_is_the_example() {
    let section = section();
    // `ignore` in the README: the README is also session-cookie's doctest,
    // which has no actix-web; the example is what compiles it.
    let open = "```rust,ignore\n";
    let start = section.find(open).expect("a ```rust,ignore block") + open.len();
    let len = section[start..].find("```\n").expect("the block ends");
    let example = read("examples/readme_actix.rs");
    assert!(
        section[start..start + len] == example,
        "README.md's \"actix-web\" app differs from \
         session-actix/examples/readme_actix.rs: copy the example into the README"
    );
}

#[test]
fn the_section_names_every_feature() {
    let section = section();
    let manifest: toml::Table = read("Cargo.toml").parse().expect("a valid Cargo.toml");
    let features = manifest["features"].as_table().expect("a [features] table");
    for name in features.keys().filter(|name| *name != "default") {
        assert!(
            section.contains(&format!("`{name}`")),
            "the README's actix-web section does not name the feature `{name}`"
        );
    }
}
