//! The benchmark harness in quick mode, so that it cannot silently rot. It checks that every
//! figure was measured, never how fast anything was: timing assertions belong to no test.

#[path = "../benches/harness/mod.rs"]
mod harness;

#[tokio::test(flavor = "multi_thread")]
async fn the_benchmark_harness_measures_every_figure_in_quick_mode() {
    let options = harness::Options::quick(env!("CARGO_BIN_EXE_visitas").into());

    let metrics = harness::run(&options).await;

    harness::print_report(&metrics);
    for metric in &metrics {
        assert!(
            metric.visitas.is_some(),
            "{} measured for Visitas",
            metric.name
        );
        assert!(
            metric.reference.is_some() || metric.name.contains("floor"),
            "{} measured for the reference",
            metric.name
        );
    }
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    for expected in [
        "server RSS at rest",
        "CPU per relayed message",
        "rooms page",
        "static file",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
}
