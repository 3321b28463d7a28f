//! The audit log at scale alone (`cargo bench --bench load` runs it too, after the load
//! figures): see `benches/scale/audit.rs`.

#[path = "scale/audit.rs"]
mod audit_scale;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    audit_scale::run(&runtime, audit_scale::entries());
}
