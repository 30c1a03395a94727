/// The version `resub --version` prints. Bumped with each release.
package enum ResubVersion {
    /// The semantic version of this build.
    package static let current = "0.9.0"
}
