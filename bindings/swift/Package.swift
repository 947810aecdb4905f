// swift-tools-version:5.7
// The Swift binding of the Glance visitor SDK: a module map over include/glance.h (CGlance)
// and a thin Swift class with closures (Glance). Build libglance first
// (`cargo build --release -p glance-ffi`) and point the linker at it:
//   swift build -Xlinker -L../../target/release
import PackageDescription

let package = Package(
    name: "Glance",
    products: [.library(name: "Glance", targets: ["Glance"])],
    targets: [
        .systemLibrary(name: "CGlance", path: "Sources/CGlance"),
        .target(name: "Glance", dependencies: ["CGlance"], path: "Sources/Glance"),
    ]
)
