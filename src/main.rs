mod inventory;
mod secrets;
mod transport;

fn main() {}
