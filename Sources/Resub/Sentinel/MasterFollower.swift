/// A link that reads from the master and moves when Sentinel names another one: the subscription link and
/// the stream reader's link. The monitor hooks into its ``LinkSupervisor`` (the master's endpoint on every
/// reconnect, the ROLE check before the set-up) and calls ``follow(_:)`` on every change. Loop-only.
package protocol MasterFollower: AnyObject {
    /// The supervisor that keeps the link's connection alive.
    var supervisor: LinkSupervisor<ContinuousClock.Instant, SystemRandomNumberGenerator> { get }
    /// Start at `endpoint`, or leave the current node for it at once.
    func follow(_ endpoint: RedisEndpoint)
}

extension NodeLink: MasterFollower {}
extension StreamLink: MasterFollower {}
