/// The one script a member runs on the master of its group's hash slot, each round: it expires the
/// members whose lease ran out (by the server's clock, so members' clocks need not agree), then renews
/// or gives up this member's lease and publishes its confirmed blocks, and returns the group as it is.
/// One script, so the read and the write are atomic.
package enum MembershipScript {
    /// What a round does with this member's lease.
    package enum Mode: String, Sendable {
        /// Renew the lease for one TTL and publish the confirmed blocks.
        case renew
        /// Give the lease up (SIGTERM) and only read the group, while handing off.
        case leave
    }

    /// KEYS: members (sorted set: id to expiry in ms), confirmed (hash: id to ``BlockSet/hex``).
    /// ARGV: id, TTL in ms, mode, confirmed hex. Returns `[absent, members, confirmed pairs]`.
    package static let source = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local ttl = tonumber(ARGV[2])
        for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
          redis.call('HDEL', KEYS[2], gone)
        end
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        local absent = 0
        if ARGV[3] == 'renew' then
          if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then absent = 1 end
          redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
          redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
          redis.call('PEXPIRE', KEYS[1], ttl * 10)
          redis.call('PEXPIRE', KEYS[2], ttl * 10)
        else
          redis.call('ZREM', KEYS[1], ARGV[1])
          redis.call('HDEL', KEYS[2], ARGV[1])
        end
        return {absent, redis.call('ZRANGE', KEYS[1], 0, -1), redis.call('HGETALL', KEYS[2])}
        """

    /// The key of the group's members.
    package static func membersKey(_ configuration: SplitConfiguration) -> String { configuration.hashTag + ":members" }

    /// The key of the members' confirmed blocks.
    package static func confirmedKey(_ configuration: SplitConfiguration) -> String { configuration.hashTag + ":confirmed" }

    /// The `EVAL` command of one round.
    package static func command(_ configuration: SplitConfiguration, mode: Mode, confirmed: BlockSet) -> [String] {
        let ttl = Int(configuration.memberTTL.seconds * 1000)
        return ["EVAL", source, "2", membersKey(configuration), confirmedKey(configuration),
                configuration.memberID, String(ttl), mode.rawValue, confirmed.hex]
    }
}
