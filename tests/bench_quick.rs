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
        // Browser figures (join to first frame, the floor, page weight) have no reference side.
        // Nor do the scheduling and visit-log figures (their targets compare Visitas figures),
        // nor PostgreSQL's beside SQLite's, nor one node's beside two.
        let in_browser = [
            "join",
            "frame",
            "call page",
            "registering",
            "scheduling",
            "visit log",
            "CSV export",
            ": SQLite",
            ": PostgreSQL",
            ": one node",
            ": two nodes",
        ]
        .iter()
        .any(|w| metric.name.contains(w));
        assert!(
            metric.reference.is_some() || in_browser,
            "{} measured for the reference",
            metric.name
        );
    }
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    for expected in [
        "server RSS at rest",
        "CPU per relayed message",
        "relayed messages lost",
        "rooms page",
        "static file",
        "join → first frame, relative, median",
        "join → first frame, bedside, median",
        "first frame floor (two peers, one page), median",
        "5 s network cut → frames flowing again, median",
        "join → first frame through TURN (relay only), median",
        "call page weight, cold (compressed)",
        "call page requests, cold",
        "desk page, 2 wards",
        "week view",
        "scheduling a visit p99, 20 nurses",
        "visit log, newest page, p99",
        "visit log, a page half a year deep, p99",
        "year's CSV export, server RSS growth",
        "desk page, 2 wards: PostgreSQL",
        "scheduling a visit p99, 20 nurses: PostgreSQL",
        "relay p99 on PostgreSQL: one node",
        "relay p99 on PostgreSQL: two nodes",
        "relayed messages lost: two nodes",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
}
