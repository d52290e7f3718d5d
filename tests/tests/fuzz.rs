//! Fuzzing what an attacker controls: the `Cookie` header parser, key card
//! verification, the codec's decode of stored bytes, and `SessionConfig`
//! deserialization (JSON and TOML).
//!
//! Each target is a proptest property over generated inputs (random bytes
//! and text, plus valid inputs mutated: flipped, cut, spliced with hostile
//! length prefixes). None may panic, and none may allocate more, at its peak
//! during one call, than its bound `BASE + PER_BYTE × input length` (see
//! [`Bound`]), measured by the counting allocator below.
//!
//! Cases per target come from `FUZZ_CASES` (default 5,000: all four targets
//! take about 10 s in debug); `scripts/fuzz.sh` runs 1,000,000 per target
//! in release.

// The counting allocator implements `GlobalAlloc`, an unsafe trait.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use session_core::{codec, Data, IdSigner, Record, Secret, SessionConfig, SessionId};

/// Counts the bytes live on each thread and the most live since the last reset.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grew(bytes: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + bytes.cast_signed();
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(bytes: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get() - bytes.cast_signed()));
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counting touches only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrank(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as if old and new blocks were both live for a moment.
        grew(new_size);
        shrank(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`; its result and the most bytes it had allocated at once.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get) - start;
    (out, peak.max(0).cast_unsigned())
}

/// A target's allocation bound: `base + per_byte × input length`, in bytes.
#[derive(Debug, Clone, Copy)]
struct Bound {
    base: usize,
    per_byte: usize,
}

impl Bound {
    fn check(self, target: &str, input_len: usize, peak: usize) -> Result<(), TestCaseError> {
        let limit = self.base + self.per_byte * input_len;
        STATS.with(|s| {
            let (cases, most, len) = s.get();
            let (most, len) = if peak > most {
                (peak, input_len)
            } else {
                (most, len)
            };
            s.set((cases + 1, most, len));
        });
        prop_assert!(
            peak <= limit,
            "{target}: {peak} bytes allocated for {input_len} bytes of input (bound {limit})"
        );
        Ok(())
    }
}

/// Cookie header parsing: no allocation of its own beyond the verified ID.
const COOKIE_BOUND: Bound = Bound {
    base: 1024,
    per_byte: 0,
};
/// Card verification: none at all beyond a small constant.
const VERIFY_BOUND: Bound = Bound {
    base: 1024,
    per_byte: 0,
};
/// Decoding stored bytes: the record's maps and copies of its strings.
const DECODE_BOUND: Bound = Bound {
    base: 4096,
    per_byte: 64,
};
/// Parsing a settings file and building the config.
const CONFIG_BOUND: Bound = Bound {
    base: 16 * 1024,
    per_byte: 64,
};

thread_local! {
    /// Per test thread: cases run, the largest peak, and its input's length.
    static STATS: Cell<(u64, usize, usize)> = const { Cell::new((0, 0, 0)) };
}

/// Prints what a target allocated at most (shown with `--nocapture`).
fn report(target: &str, bound: Bound) {
    let (cases, most, len) = STATS.with(Cell::get);
    println!(
        "{target}: {cases} cases, no panic; largest peak allocation {most} bytes \
         (for {len} bytes of input; bound {} + {} per byte)",
        bound.base, bound.per_byte
    );
}

fn runner() -> TestRunner {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .map(|v| v.parse().expect("FUZZ_CASES must be a number of cases"))
        .unwrap_or(5_000);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn cards() -> IdSigner {
    IdSigner::new(
        "session",
        &Secret::from("fuzz-key-card-secret-0123456789abcdef"),
        [],
    )
}

/// Hostile MessagePack prefixes: containers and strings claiming 4 GiB.
const HOSTILE: [&[u8]; 5] = [
    &[0xdd, 0xff, 0xff, 0xff, 0xff],
    &[0xdf, 0xff, 0xff, 0xff, 0xff],
    &[0xc6, 0xff, 0xff, 0xff, 0xff],
    &[0xdb, 0xff, 0xff, 0xff, 0xff],
    &[
        0x92, 0xcf, 0, 0, 0, 0, 0, 0, 0, 1, 0xdf, 0x7f, 0xff, 0xff, 0xff,
    ],
];

/// One change to a valid input.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Cut(usize),
    Splice(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Flip(at, b)),
        any::<usize>().prop_map(Mutation::Cut),
        (any::<usize>(), 0..HOSTILE.len())
            .prop_map(|(at, h)| Mutation::Splice(at, HOSTILE[h].to_vec())),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 0..16)
        )
            .prop_map(|(at, bytes)| Mutation::Splice(at, bytes)),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
        match m {
            Mutation::Flip(i, b) if !bytes.is_empty() => {
                let i = at(*i, bytes.len());
                bytes[i] ^= b.max(&1);
            }
            Mutation::Flip(..) => {}
            Mutation::Cut(i) => bytes.truncate(at(*i, bytes.len() + 1)),
            Mutation::Splice(i, more) => {
                let i = at(*i, bytes.len() + 1);
                bytes.splice(i..i, more.iter().copied());
            }
        }
    }
    bytes
}

/// `valid` with one to three mutations, as text.
fn mutated(valid: String) -> impl Strategy<Value = String> {
    proptest::collection::vec(mutation(), 1..4).prop_map(move |m| {
        String::from_utf8_lossy(&mutate(valid.clone().into_bytes(), &m)).into_owned()
    })
}

#[test]
fn cookie_header_parser() {
    let cards = cards();
    let id = SessionId::generate();
    let card = cards.sign(&id);
    // A header: cookies named like ours or not, holding our card, a mutated
    // card or noise, joined by well- or ill-formed separators; or raw bytes.
    let value = prop_oneof![Just(card.clone()), mutated(card.clone()), ".{0,80}",];
    let cookie = (
        prop_oneof![Just("session"), Just("other"), Just(""), Just("session ")],
        value,
    )
        .prop_map(|(name, value)| format!("{name}={value}"));
    let header = prop_oneof![
        (
            proptest::collection::vec(cookie, 0..6),
            prop_oneof![Just("; "), Just(";"), Just(","), Just(";;")]
        )
            .prop_map(|(cookies, sep)| cookies.join(sep).into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..300),
    ];
    runner()
        .run(&proptest::collection::vec(header, 0..4), |headers| {
            let mut map = HeaderMap::new();
            let mut len = 0;
            for h in &headers {
                if let Ok(v) = HeaderValue::from_bytes(h) {
                    len += h.len();
                    map.append(http::header::COOKIE, v);
                }
            }
            let ((found, presented), peak) =
                peak_of(|| session_cookie::__fuzz_read_card(&map, "session", &cards));
            if let Some(v) = &found {
                prop_assert_eq!(&v.id, &id, "a card that was never signed verified");
                prop_assert!(presented, "a card was found but not presented");
            }
            // Our card as a `;`-separated pair of its own is always found,
            // whatever its neighbours are.
            let ours = format!("session={card}");
            let sent = map.get_all(http::header::COOKIE).iter().any(|h| {
                h.as_bytes()
                    .split(|&b| b == b';')
                    .any(|pair| pair.trim_ascii() == ours.as_bytes())
            });
            prop_assert!(!sent || found.is_some(), "our card was sent but not found");
            COOKIE_BOUND.check("read_card", len, peak)
        })
        .unwrap();
    report("read_card", COOKIE_BOUND);
}

#[test]
fn key_card_verification() {
    let cards = cards();
    let id = SessionId::generate();
    let card = cards.sign(&id);
    let input = prop_oneof![
        mutated(card.clone()),
        ".{0,200}",
        "[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}",
    ];
    runner()
        .run(&input, |value| {
            let (verified, peak) = peak_of(|| cards.verify(&value));
            prop_assert_eq!(
                verified.is_some(),
                value == card,
                "only our own card verifies"
            );
            VERIFY_BOUND.check("IdSigner::verify", value.len(), peak)
        })
        .unwrap();
    report("IdSigner::verify", VERIFY_BOUND);
}

fn record() -> impl Strategy<Value = Record> {
    (
        proptest::collection::btree_map(
            ".{0,12}",
            proptest::collection::vec(any::<u8>(), 0..48),
            0..6,
        ),
        proptest::option::of(".{0,24}"),
        any::<u64>(),
        0u64..(1 << 45),
        proptest::option::of(0u64..(400 * 86_400)),
    )
        .prop_map(
            |(data, user, version, expires_ms, expiry): (Data, _, _, _, Option<u64>)| Record {
                user,
                version,
                expiry: expiry.map(session_core::Expiry::from_code),
                ..Record::new(
                    SessionId::generate(),
                    data,
                    SystemTime::UNIX_EPOCH + Duration::from_millis(expires_ms),
                )
            },
        )
}

#[test]
fn codec_decode_of_stored_bytes() {
    let stored = prop_oneof![
        (record(), proptest::collection::vec(mutation(), 0..4)).prop_map(|(r, m)| {
            let bytes = codec::encode(&r).expect("encode");
            let intact = m.is_empty();
            (mutate(bytes, &m), intact.then_some(r))
        }),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|b| (b, None)),
        (
            prop_oneof![Just(codec::FORMAT), any::<u8>()],
            proptest::collection::vec(any::<u8>(), 0..64),
            0..HOSTILE.len()
        )
            .prop_map(|(format, mut b, h)| {
                b.insert(0, format);
                b.extend_from_slice(HOSTILE[h]);
                (b, None)
            }),
    ];
    runner()
        .run(&stored, |(bytes, intact)| {
            let id = SessionId::generate();
            let (decoded, peak) = peak_of(|| codec::decode(id.clone(), &bytes));
            if let Some(original) = intact {
                let decoded = decoded.expect("an intact record decodes");
                prop_assert!(decoded.data == original.data && decoded.user == original.user);
                prop_assert_eq!(decoded.version, original.version);
            }
            DECODE_BOUND.check("codec::decode", bytes.len(), peak)
        })
        .unwrap();
    report("codec::decode", DECODE_BOUND);
}

/// A settings value of any JSON type, plausible or not.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::from),
        Just(json!("fuzz-settings-secret-0123456789abcdef")),
        proptest::collection::vec(".{0,40}", 0..3).prop_map(|v| json!(v)),
    ]
}

const FIELDS: [&str; 15] = [
    "secret_key",
    "fallback_secret_keys",
    "session_cookie",
    "max_age",
    "same_site",
    "https_only",
    "path",
    "domain",
    "http_only",
    "absolute_max_age",
    "refresh_after",
    "max_data_size",
    "browser_session_ttl",
    "renewal",
    "unknown",
];

/// A settings object: known and unknown fields, values of any type.
fn settings() -> impl Strategy<Value = std::collections::BTreeMap<String, serde_json::Value>> {
    proptest::collection::btree_map(
        prop_oneof![
            (0..FIELDS.len()).prop_map(|i| FIELDS[i].to_owned()),
            ".{0,10}"
        ],
        json_value(),
        0..16,
    )
}

#[test]
fn session_config_deserialization() {
    let text = prop_oneof![
        // JSON objects, intact or mutated.
        (settings(), proptest::collection::vec(mutation(), 0..3)).prop_map(
            |(o, m): (_, Vec<Mutation>)| {
                (
                    String::from_utf8_lossy(&mutate(serde_json::to_vec(&o).unwrap(), &m))
                        .into_owned(),
                    false,
                )
            }
        ),
        // The same as TOML lines (values in JSON syntax are often TOML too).
        settings().prop_map(|o| {
            let lines: Vec<String> = o.iter().map(|(k, v)| format!("{k:?} = {v}")).collect();
            (lines.join("\n"), true)
        }),
        ".{0,200}".prop_map(|s| (s, false)),
        ".{0,200}".prop_map(|s| (s, true)),
    ];
    runner()
        .run(&text, |(text, as_toml): (String, bool)| {
            let (_, peak) = peak_of(|| {
                if as_toml {
                    toml::from_str::<SessionConfig>(&text).is_ok()
                } else {
                    serde_json::from_str::<SessionConfig>(&text).is_ok()
                }
            });
            CONFIG_BOUND.check("SessionConfig deserialization", text.len(), peak)
        })
        .unwrap();
    report("SessionConfig deserialization", CONFIG_BOUND);
}
