use rpc_core::service;

#[service]
trait Geometry {
    async fn length(&self, (x, y): (f64, f64)) -> f64;
}

fn main() {}
