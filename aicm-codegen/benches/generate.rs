//! Rendering 200 configs of 50 fields each (the yardstick: well under a second).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aicm_codegen::{ConfigSchema, RenderOptions, render_module};
use aicm_schema::Schema;
use criterion::{Criterion, criterion_group, criterion_main};

const TYPES: &[&str] = &[
    "int",
    "float",
    "str",
    "bool",
    "Optional[str]",
    "List[int]",
    "Dict[str, List[float]]",
    "Union[str, int]",
    "Optional[Union[List[int], Dict[str, float], bool]]",
    "Any",
];

fn configs() -> Vec<ConfigSchema> {
    (0..200)
        .map(|c| {
            let pairs = (0..50).map(|f| {
                let name = if f % 7 == 0 {
                    format!("field-{f}")
                } else {
                    format!("field_{f}")
                };
                (name, TYPES[(c + f) % TYPES.len()])
            });
            ConfigSchema::new(format!("config-{c:03}"), Schema::from_pairs(pairs).unwrap())
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let configs = configs();
    let options = RenderOptions::default();
    let mut group = c.benchmark_group("render_module");
    group.sample_size(10);
    group.bench_function("200 configs x 50 fields", |b| {
        b.iter(|| render_module(&configs, &options).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
