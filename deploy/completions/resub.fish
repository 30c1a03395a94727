function __resub_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __resub_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __resub_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __resub_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __resub_parse_tokens -S
    set -l unparsed_tokens (__resub_tokens -pc)
    switch $unparsed_tokens[1]
    case 'resub'
        __resub_parse_subcommand 0 'config=' 'url=+' 'cluster' 'no-cluster' 'slots=' 'split-group=' 'member-ttl=' 'channel=+' 'pattern=+' 'shard-channel=+' 'format=' 'client-name=' 'count=' 'sink-queue-bytes=' 'log-format=' 'protocol=' 'connect-timeout=' 'ping-interval=' 'ping-timeout=' 'reconnect-min=' 'reconnect-max=' 'replay-batch=' 'emit-gaps' 'no-emit-gaps' 'admin=' 'admin-token=' 'shutdown-timeout=' 'webhook=' 'webhook-secret=+' 'webhook-header=+' 'webhook-batch=' 'webhook-linger=' 'webhook-concurrency=' 'webhook-timeout=' 'webhook-ca=' 'spool-dir=' 'spool-max-bytes=' 'stream=+' 'group=' 'consumer=' 'stream-start=' 'state-dir=' 'tls-ca=' 'tls-cert=' 'tls-key=' 'password-file=' 'sentinel=+' 'sentinel-master=' 'sentinel-password-file=' 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'help'
            __resub_parse_subcommand -r 1 'version'
        end
    end
end

function __resub_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __resub_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __resub_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __resub_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__resub_tokens -p)
    if test -z "$(__resub_tokens -t)"
        set -l index (count (__resub_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'resub' -f
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" config' -l 'config' -d 'YAML file with the same settings (keys: urls, cluster, channels, patterns, shard_channels, …). SIGHUP re-reads it.' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub"' -l 'url' -d 'redis://[user:pass@]host:port, rediss://… or unix:///path (repeatable: cluster seeds; REDIS_URL when absent).' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" cluster' -l 'cluster' -d 'Cluster mode: the --url values are seeds; the topology comes from CLUSTER SHARDS (CLUSTER SLOTS before Redis 7).'
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" no-cluster' -l 'no-cluster' -d 'Cluster mode: the --url values are seeds; the topology comes from CLUSTER SHARDS (CLUSTER SLOTS before Redis 7).'
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" slots' -l 'slots' -d 'Cluster mode: serve only shard channels whose hash slot is in these ranges, e.g. 0-5460,10923-16383; or auto: share the slots with the live members of the split group.' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" split-group' -l 'split-group' -d 'With --slots auto: the split group\'s name; instances of one group share the slots. (default: resub)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" member-ttl' -l 'member-ttl' -d 'With --slots auto: a member\'s lease in seconds; a dead member\'s slots move within this plus 1 s. (default: 5)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub"' -l 'channel' -d 'SUBSCRIBE this channel (repeatable).' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub"' -l 'pattern' -d 'PSUBSCRIBE this glob pattern (repeatable).' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub"' -l 'shard-channel' -d 'SSUBSCRIBE this shard channel, Redis 7+ (repeatable).' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" format' -l 'format' -d 'stdout format: json or raw. (default: json)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" client-name' -l 'client-name' -d 'CLIENT SETNAME on every connection. (default: resub)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" count' -l 'count' -d 'Exit 0 after writing N messages.' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" sink-queue-bytes' -l 'sink-queue-bytes' -d 'Stdout: bytes of messages held in memory while the reader of stdout is slower than Redis (after flow control paused the socket for 250 ms); past it messages are dropped and counted. (default: 134217728)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" log-format' -l 'log-format' -d 'Log format on stderr: text or json. (default: text)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" protocol' -l 'protocol' -d 'resp3 (HELLO 3, falls back to RESP2) or resp2. (default: resp3)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" connect-timeout' -l 'connect-timeout' -d 'Seconds a connection attempt may take. (default: 5)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" ping-interval' -l 'ping-interval' -d 'Seconds a connection may stay idle before a health-check PING. (default: 5)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" ping-timeout' -l 'ping-timeout' -d 'Seconds without any reply after a PING before the connection is declared dead and replaced. (default: 3)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" reconnect-min' -l 'reconnect-min' -d 'Smallest reconnect delay, seconds. (default: 0.1)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" reconnect-max' -l 'reconnect-max' -d 'Largest reconnect delay, seconds. (default: 10)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" replay-batch' -l 'replay-batch' -d 'Names per (P/S)SUBSCRIBE command when replaying. (default: 1000)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" emit-gaps' -l 'emit-gaps' -d 'Write a {"type":"gap",...} record to the sink for every outage. (default: off)'
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" no-emit-gaps' -l 'no-emit-gaps' -d 'Write a {"type":"gap",...} record to the sink for every outage. (default: off)'
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" admin' -l 'admin' -d 'Admin HTTP address: GET /healthz, /readyz, GET/POST/DELETE /subscriptions. (default: off)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" admin-token' -l 'admin-token' -d 'Bearer token required by the admin API (required when --admin is not on loopback).' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" shutdown-timeout' -l 'shutdown-timeout' -d 'Seconds to drain the sink after SIGTERM/SIGINT before exiting. (default: 10)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" webhook' -l 'webhook' -d 'Sink: POST batches of messages (JSON arrays) to this http(s) URL instead of stdout.' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub"' -l 'webhook-secret' -d 'Sign each webhook request the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature: v1,<base64 HMAC-SHA256>); a whsec_ secret is base64-decoded. Repeatable: every secret signs (key rotation).' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub"' -l 'webhook-header' -d 'Extra webhook request header (repeatable), e.g. \'Authorization: Bearer x\'.' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" webhook-batch' -l 'webhook-batch' -d 'Most messages per webhook request. (default: 500)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" webhook-linger' -l 'webhook-linger' -d 'Longest wait, in milliseconds, for a webhook batch to fill. (default: 50)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" webhook-concurrency' -l 'webhook-concurrency' -d 'Webhook requests in flight at once; a channel\'s messages stay in order. (default: 4)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" webhook-timeout' -l 'webhook-timeout' -d 'Seconds a webhook request may take. (default: 10)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" webhook-ca' -l 'webhook-ca' -d 'PEM CA bundle to trust for an https webhook instead of the system bundle.' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" spool-dir' -l 'spool-dir' -d 'Webhook: write every request ahead to this on-disk queue; delivered in order after outages and restarts.' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" spool-max-bytes' -l 'spool-max-bytes' -d 'Spool size bound in bytes; past it new batches are dropped and counted. (default: 1073741824)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub"' -l 'stream' -d 'Read this stream with XREAD BLOCK on a dedicated connection (repeatable).' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" group' -l 'group' -d 'Read the streams as this consumer group (XREADGROUP; created if missing); entries are XACKed once the sink accepted them.' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" consumer' -l 'consumer' -d 'This instance\'s consumer name in --group.' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" stream-start' -l 'stream-start' -d 'Where plain XREAD starts when --state-dir has nothing: $ (new entries), 0 (all) or an ID. (default: $)' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" state-dir' -l 'state-dir' -d 'Directory where plain XREAD keeps the last IDs written, so a restart resumes there.' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" tls-ca' -l 'tls-ca' -d 'PEM CA bundle trusted for rediss:// (default: the system\'s).' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" tls-cert' -l 'tls-cert' -d 'Client certificate (PEM) for rediss:// servers that require one; with --tls-key.' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" tls-key' -l 'tls-key' -d 'The client certificate\'s private key (PEM).' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" password-file' -l 'password-file' -d 'Read the Redis password from this file (first line) instead of the URL; RESUB_PASSWORD works too.' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub"' -l 'sentinel' -d 'Sentinel mode: a sentinel to ask for the master (repeatable, tried in turn); with --sentinel-master. Same as --url redis+sentinel://h1:26379,h2:26379/NAME.' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" sentinel-master' -l 'sentinel-master' -d 'Sentinel mode: the master\'s name as the sentinels monitor it.' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" sentinel-password-file' -l 'sentinel-password-file' -d 'Password of sentinels with requirepass (first line of the file); RESUB_SENTINEL_PASSWORD works too.' -rfka ''
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" version' -l 'version' -d 'Show the version.'
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'resub' -n '__resub_should_offer_completions_for_positional "resub" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'resub' -n '__resub_should_offer_completions_for_flags_or_options "resub help" version' -l 'version' -d 'Show the version.'
