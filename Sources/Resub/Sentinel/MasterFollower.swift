/// A link that reads from the master and moves when Sentinel names another one: the subscription link and
/// the stream reader's link. Loop-only.
package protocol MasterFollower: AnyObject {
    /// Asked for the endpoint before each reconnect.
    var nextEndpoint: (() -> RedisEndpoint?)? { get set }
    /// Run on every new connection before anything is subscribed or read (the ROLE check).
    var beforeReplay: ((Connection, @escaping (ResubError?) -> Void) -> Void)? { get set }
    /// Start at `endpoint`, or leave the current node for it at once.
    func follow(_ endpoint: RedisEndpoint)
}

extension NodeLink: MasterFollower {}
extension StreamLink: MasterFollower {}
