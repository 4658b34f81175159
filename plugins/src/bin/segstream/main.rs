fn main() {
    println!("segstream");
}
