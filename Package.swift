// swift-tools-version: 6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "resub",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Resub", targets: ["Resub"]),
        .executable(name: "resub", targets: ["resub"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // `swift package generate-documentation --target Resub` (the DocC catalog in Sources/Resub/Resub.docc).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // libevent, through pkg-config (libevent_pthreads requires libevent). Only LibeventLoop imports it.
        .systemLibrary(
            name: "CLibevent",
            pkgConfig: "libevent_pthreads",
            providers: [.apt(["libevent-dev"])]
        ),
        // libyaml's event parser, through pkg-config: the --config file is read without building a tree.
        .systemLibrary(
            name: "CLibYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        // glibc extras: malloc_trim (free memory given back after a large configuration is read), dl_iterate_phdr
        // (the start-up code's resident pages given back once the service is up).
        .target(name: "CGlibcExtras"),
        // The Redis serialization protocol: values, an incremental parser, an encoder. No I/O.
        .target(name: "RESP", swiftSettings: strict),
        // One event_base on one thread: inbox, timers, signals, sockets. The only importer of CLibevent.
        .target(name: "LibeventLoop", dependencies: ["CLibevent"], swiftSettings: strict),
        // The library programs embed: connections, subscriptions, health, cluster, streams.
        .target(
            name: "Resub",
            dependencies: [
                "RESP", "LibeventLoop",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The service: sinks, configuration, admin HTTP.
        .target(
            name: "ResubService",
            dependencies: [
                "Resub", "RESP", "LibeventLoop", "CLibYAML", "CGlibcExtras",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "resub",
            dependencies: ["ResubService", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        // Benchmarks (figures in the README): replay of 100,000 channels + 1,000 patterns after a restart.
        .executableTarget(
            name: "resub-replay-bench",
            dependencies: ["Resub"],
            path: "Benchmarks/ReplayBenchmark",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "resub-spool-bench",
            dependencies: ["ResubService", "LibeventLoop", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/SpoolBenchmark",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "resub-cluster-bench",
            dependencies: ["Resub", "RESP", "TestSupport"],
            path: "Benchmarks/ClusterBenchmark",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "resub-keyspace-bench",
            dependencies: ["Resub", "TestSupport"],
            path: "Benchmarks/KeyspaceBenchmark",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "resub-split-bench",
            dependencies: ["Resub"],
            path: "Benchmarks/SplitBenchmark",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "resub-sharded-memory",
            dependencies: ["Resub", "CGlibcExtras"],
            path: "Benchmarks/ShardedMemoryBenchmark",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "resub-json-bench",
            dependencies: ["ResubService", "RESP"],
            path: "Benchmarks/JSONEncoderBenchmark",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "resub-sentinel-bench",
            dependencies: ["Resub", "RESP", "TestSupport"],
            path: "Benchmarks/SentinelBenchmark",
            swiftSettings: strict
        ),
        .target(
            name: "TestSupport",
            dependencies: ["RESP", "Resub"],
            path: "Tests/TestSupport",
            swiftSettings: strict
        ),
        .testTarget(name: "RESPTests", dependencies: ["RESP", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "LibeventLoopTests", dependencies: ["LibeventLoop"], swiftSettings: strict),
        .testTarget(name: "ResubTests", dependencies: ["Resub", "RESP", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "ResubServiceTests",
            dependencies: ["ResubService", "Resub", "RESP", "TestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Resub", "ResubService", "RESP", "LibeventLoop", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
    ]
)
