//! Micro benchmarks of the per-request core work: signing and verifying a
//! key card, and encoding and decoding a typical session record (5 keys,
//! about 200 bytes encoded).
//!
//! Run with: cargo bench -p session-core

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{criterion_main, Criterion, Throughput};
use session_core::codec::{decode, encode, encode_value};
use session_core::{Data, IdSigner, Record, SessionConfig, SessionId};

const SECRET: &str = "bench-secret-0123456789abcdef0123456789abcdef";

/// A logged-in session as the hotel app keeps it: 5 keys, about 200 bytes.
fn typical_record() -> Record {
    let mut data = Data::new();
    data.insert("user_id".into(), encode_value(&42u64).unwrap());
    data.insert("email".into(), encode_value("guest@example.com").unwrap());
    data.insert(
        "user_agent".into(),
        encode_value("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
            .unwrap(),
    );
    data.insert("visits".into(), encode_value(&7u64).unwrap());
    data.insert(
        "cart".into(),
        encode_value(&vec!["tea", "scones", "jam"]).unwrap(),
    );
    let mut record = Record::new(
        SessionId::generate(),
        data,
        SystemTime::now() + Duration::from_secs(14_400),
    );
    record.user = Some("42".into());
    record
}

fn keycard(c: &mut Criterion) {
    let config = SessionConfig::builder(SECRET).build().unwrap();
    let cards = IdSigner::from_config(&config);
    let id = SessionId::generate();
    let card = cards.sign(&id);
    let mut group = c.benchmark_group("keycard");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign", |b| b.iter(|| cards.sign(black_box(&id))));
    group.bench_function("verify", |b| {
        b.iter(|| cards.verify(black_box(&card)).unwrap())
    });
    group.bench_function("sign_verify", |b| {
        b.iter(|| {
            let card = cards.sign(black_box(&id));
            cards.verify(&card).unwrap()
        })
    });
    group.bench_function("verify_forged", |b| {
        let mut forged = card.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        b.iter(|| assert!(cards.verify(black_box(&forged)).is_none()))
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    let record = typical_record();
    let bytes = encode(&record).unwrap();
    eprintln!(
        "typical session: {} keys, {} bytes encoded",
        record.data.len(),
        bytes.len()
    );
    let mut group = c.benchmark_group("codec_typical_session");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| b.iter(|| encode(black_box(&record)).unwrap()));
    group.bench_function("decode", |b| {
        b.iter(|| decode(record.id.clone(), black_box(&bytes)).unwrap())
    });
    group.bench_function("encode_decode", |b| {
        b.iter(|| {
            let bytes = encode(black_box(&record)).unwrap();
            decode(record.id.clone(), &bytes).unwrap()
        })
    });
    group.finish();
}

#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::keycard, super::codec);
}
use group::benches;
criterion_main!(benches);
