//! `cargo bench --bench compare`: Visitas against the Node.js + Express + socket.io reference.
//! Prints one table and a `BENCH {json}` line per metric. `-- --quick` for small numbers.

#[path = "harness/mod.rs"]
mod harness;

#[tokio::main]
async fn main() {
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_visitas"));
    let quick = std::env::args().any(|a| a == "--quick");
    let options = if quick {
        harness::Options::quick(bin)
    } else {
        harness::Options::full(bin)
    };
    println!(
        "Visitas benchmark ({}), {}",
        if quick { "quick" } else { "full" },
        chrono::Local::now().format("%Y-%m-%d %H:%M")
    );
    let metrics = harness::run(&options).await;
    harness::print_report(&metrics);
}
