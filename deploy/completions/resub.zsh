#compdef resub

__resub_complete() {
    local -ar non_empty_completions=("${@:#(|:*)}")
    local -ar empty_completions=("${(M)@:#(|:*)}")
    _describe -V '' non_empty_completions -- empty_completions -P $'\'\''
}

__resub_custom_complete() {
    local -a completions
    completions=("${(@f)"$("${command_name}" "${@}" "${command_line[@]}")"}")
    if [[ "${#completions[@]}" -gt 1 ]]; then
        __resub_complete "${completions[@]:0:-1}"
    fi
}

__resub_cursor_index_in_current_word() {
    if [[ -z "${QIPREFIX}${IPREFIX}${PREFIX}" ]]; then
        printf 0
    else
        printf %s "${#${(z)LBUFFER}[-1]}"
    fi
}

_resub() {
    emulate -RL zsh -G
    setopt extendedglob nullglob numericglobsort
    unsetopt aliases banghist

    local -xr SAP_SHELL=zsh
    local -x SAP_SHELL_VERSION
    SAP_SHELL_VERSION="$(builtin emulate zsh -c 'printf %s "${ZSH_VERSION}"')"
    local -r SAP_SHELL_VERSION

    local context state state_descr line
    local -A opt_args

    local -r command_name="${words[1]}"
    local -ar command_line=("${words[@]}")
    local -ir current_word_index="$((CURRENT - 1))"

    local -i ret=1
    local -ar arg_specs=(
        '--config[YAML file with the same settings (keys\: urls, cluster, channels, patterns, shard_channels, …). SIGHUP re-reads it.]:FILE:'
        '*--url[redis\://\[user\:pass@\]host\:port, rediss\://… or unix\:///path (repeatable\: cluster seeds; REDIS_URL when absent).]:URL:'
        '--cluster[Cluster mode\: the --url values are seeds; the topology comes from CLUSTER SHARDS (CLUSTER SLOTS before Redis 7).]'
        '--no-cluster[Cluster mode\: the --url values are seeds; the topology comes from CLUSTER SHARDS (CLUSTER SLOTS before Redis 7).]'
        '--slots[Cluster mode\: serve only shard channels whose hash slot is in these ranges, e.g. 0-5460,10923-16383; or auto\: share the slots with the live members of the split group.]:RANGES|auto:'
        '--split-group[With --slots auto\: the split group'\''s name; instances of one group share the slots. (default\: resub)]:NAME:'
        '--member-ttl[With --slots auto\: a member'\''s lease in seconds; a dead member'\''s slots move within this plus 1 s. (default\: 5)]:S:'
        '*--channel[SUBSCRIBE this channel (repeatable).]:NAME:'
        '*--pattern[PSUBSCRIBE this glob pattern (repeatable).]:GLOB:'
        '*--shard-channel[SSUBSCRIBE this shard channel, Redis 7+ (repeatable).]:NAME:'
        '--format[stdout format\: json or raw. (default\: json)]:json|raw:'
        '--client-name[CLIENT SETNAME on every connection. (default\: resub)]:NAME:'
        '--count[Exit 0 after writing N messages.]:N:'
        '--sink-queue-bytes[Stdout\: bytes of messages held in memory while the reader of stdout is slower than Redis (after flow control paused the socket for 250 ms); past it messages are dropped and counted. (default\: 134217728)]:N:'
        '--log-format[Log format on stderr\: text or json. (default\: text)]:text|json:'
        '--protocol[resp3 (HELLO 3, falls back to RESP2) or resp2. (default\: resp3)]:resp3|resp2:'
        '--connect-timeout[Seconds a connection attempt may take. (default\: 5)]:S:'
        '--ping-interval[Seconds a connection may stay idle before a health-check PING. (default\: 5)]:S:'
        '--ping-timeout[Seconds without any reply after a PING before the connection is declared dead and replaced. (default\: 3)]:S:'
        '--reconnect-min[Smallest reconnect delay, seconds. (default\: 0.1)]:S:'
        '--reconnect-max[Largest reconnect delay, seconds. (default\: 10)]:S:'
        '--replay-batch[Names per (P/S)SUBSCRIBE command when replaying. (default\: 1000)]:N:'
        '--emit-gaps[Write a {"type"\:"gap",...} record to the sink for every outage. (default\: off)]'
        '--no-emit-gaps[Write a {"type"\:"gap",...} record to the sink for every outage. (default\: off)]'
        '--admin[Admin HTTP address\: GET /healthz, /readyz, GET/POST/DELETE /subscriptions. (default\: off)]:HOST\:PORT:'
        '--admin-token[Bearer token required by the admin API (required when --admin is not on loopback).]:T:'
        '--shutdown-timeout[Seconds to drain the sink after SIGTERM/SIGINT before exiting. (default\: 10)]:S:'
        '--webhook[Sink\: POST batches of messages (JSON arrays) to this http(s) URL instead of stdout.]:URL:'
        '*--webhook-secret[Sign each webhook request the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature\: v1,<base64 HMAC-SHA256>); a whsec_ secret is base64-decoded. Repeatable\: every secret signs (key rotation).]:S:'
        '*--webhook-header[Extra webhook request header (repeatable), e.g. '\''Authorization\: Bearer x'\''.]:K\:V:'
        '--webhook-batch[Most messages per webhook request. (default\: 500)]:N:'
        '--webhook-linger[Longest wait, in milliseconds, for a webhook batch to fill. (default\: 50)]:MS:'
        '--webhook-concurrency[Webhook requests in flight at once; a channel'\''s messages stay in order. (default\: 4)]:N:'
        '--webhook-timeout[Seconds a webhook request may take. (default\: 10)]:S:'
        '--webhook-ca[PEM CA bundle to trust for an https webhook instead of the system bundle.]:FILE:'
        '--spool-dir[Webhook\: write every request ahead to this on-disk queue; delivered in order after outages and restarts.]:DIR:'
        '--spool-max-bytes[Spool size bound in bytes; past it new batches are dropped and counted. (default\: 1073741824)]:N:'
        '*--stream[Read this stream with XREAD BLOCK on a dedicated connection (repeatable).]:KEY:'
        '--group[Read the streams as this consumer group (XREADGROUP; created if missing); entries are XACKed once the sink accepted them.]:G:'
        '--consumer[This instance'\''s consumer name in --group.]:C:'
        '--stream-start[Where plain XREAD starts when --state-dir has nothing\: $ (new entries), 0 (all) or an ID. (default\: $)]:ID|$|0:'
        '--state-dir[Directory where plain XREAD keeps the last IDs written, so a restart resumes there.]:DIR:'
        '--tls-ca[PEM CA bundle trusted for rediss\:// (default\: the system'\''s).]:FILE:'
        '--tls-cert[Client certificate (PEM) for rediss\:// servers that require one; with --tls-key.]:FILE:'
        '--tls-key[The client certificate'\''s private key (PEM).]:FILE:'
        '--password-file[Read the Redis password from this file (first line) instead of the URL; RESUB_PASSWORD works too.]:FILE:'
        '*--sentinel[Sentinel mode\: a sentinel to ask for the master (repeatable, tried in turn); with --sentinel-master. Same as --url redis+sentinel\://h1\:26379,h2\:26379/NAME.]:HOST\:PORT:'
        '--sentinel-master[Sentinel mode\: the master'\''s name as the sentinels monitor it.]:NAME:'
        '--sentinel-password-file[Password of sentinels with requirepass (first line of the file); RESUB_SENTINEL_PASSWORD works too.]:FILE:'
        '--version[Show the version.]'
        '(-h --help)'{-h,--help}'[Show help information.]'
        '(-): :->command'
        '(-)*:: :->arg'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0
    case "${state}" in
    command)
        local -ar subcommands=(
            'help:Show subcommand help information.'
        )
        _describe -V subcommand subcommands && ret=0
        ;;
    arg)
        case "${words[1]}" in
        help)
            "_resub_${words[1]}" && ret=0
            ;;
        esac
        ;;
    esac

    return "${ret}"
}

_resub_help() {
    local -i ret=1
    local -ar arg_specs=(
        '*:subcommands:'
        '--version[Show the version.]'
    )
    _arguments -w -s -S : "${arg_specs[@]}" && ret=0

    return "${ret}"
}

if [[ "${funcstack[1]}" = _resub ]]; then
    _resub "${@}"
else
    compdef _resub resub
fi
