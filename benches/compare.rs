//! `cargo bench --bench compare`: Visitas against the Node.js + Express + socket.io reference.
//! Prints one table and a `BENCH {json}` line per metric. `-- --quick` for small numbers;
//! `-- --only http,idle,browser,schedule,network,log,postgres` to run some parts only.

#[path = "harness/mod.rs"]
mod harness;

#[tokio::main]
async fn main() {
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_visitas"));
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let mut options = if quick {
        harness::Options::quick(bin)
    } else {
        harness::Options::full(bin)
    };
    if let Some(only) = args.iter().position(|a| a == "--only") {
        let names = args.get(only + 1).map_or("", String::as_str);
        options.parts = names
            .split(',')
            .map(|name| {
                harness::Part::parse(name).unwrap_or_else(|| {
                    eprintln!(
                        "--only takes http, idle, browser, schedule, network, log or postgres, separated by commas"
                    );
                    std::process::exit(2)
                })
            })
            .collect();
    }
    println!(
        "Visitas benchmark ({}), {}",
        if quick { "quick" } else { "full" },
        chrono::Local::now().format("%Y-%m-%d %H:%M")
    );
    let metrics = harness::run(&options).await;
    harness::print_report(&metrics);
}
