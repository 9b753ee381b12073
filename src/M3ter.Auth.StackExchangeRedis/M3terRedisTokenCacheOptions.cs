using System;
using System.Threading.Tasks;
using StackExchange.Redis;

namespace M3ter.Auth.StackExchangeRedis;

/// <summary>Settings of the Redis token cache that a fleet of processes shares (<c>AddM3terAuthRedisTokenCache</c>).</summary>
/// <remarks>
/// Set <see cref="Configuration"/> or <see cref="ConnectionMultiplexerFactory"/>. Every Redis call is bounded by
/// <see cref="OperationTimeout"/>; a failed or timed-out call is a miss, and opens a circuit breaker for
/// <see cref="BreakDuration"/> during which Redis is not called at all, so a dead Redis costs at most one timeout per
/// <see cref="BreakDuration"/>.
/// </remarks>
public sealed class M3terRedisTokenCacheOptions
{
    /// <summary>Gets or sets the StackExchange.Redis configuration string, for example <c>redis:6379</c> or <c>localhost:6379,password=…,ssl=true</c>.</summary>
    /// <value>None by default. The cache connects on first use, never in a constructor, with <c>abortConnect=false</c> and a fail-fast backlog.</value>
    public string? Configuration { get; set; }

    /// <summary>Gets or sets a factory for the connection, for an application that already has an <see cref="IConnectionMultiplexer"/>.</summary>
    /// <value>None by default. Called once, on first use; the cache does not dispose what it returns. Takes precedence over <see cref="Configuration"/>.</value>
    public Func<Task<IConnectionMultiplexer>>? ConnectionMultiplexerFactory { get; set; }

    /// <summary>Gets or sets the prefix of every Redis key the cache writes.</summary>
    /// <value>Defaults to <c>m3ter-auth:</c>. The rest of the key is an HMAC of the base address and access key id, never either of them.</value>
    public string KeyPrefix { get; set; } = "m3ter-auth:";

    /// <summary>Gets or sets how long one Redis call may take before it counts as a miss and opens the circuit breaker.</summary>
    /// <value>Defaults to 250 milliseconds; at most 10 seconds.</value>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Gets or sets how long the first call waits for the connection to Redis to open, and how long calls may take until Redis has answered once.</summary>
    /// <value>
    /// Defaults to 1 second; at most 30 seconds. Only the call that starts the connection waits for it (a new
    /// process's first token request); calls that come while it is still opening are misses at once. If Redis is not
    /// running, a process's first token is therefore at most this much later than without the cache. Until Redis has
    /// answered once, a call may take this long instead of <see cref="OperationTimeout"/>: a new process's first commands
    /// pay for warming up.
    /// </value>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Gets or sets how long the circuit breaker keeps Redis out of use after a failed or timed-out call.</summary>
    /// <value>Defaults to 15 seconds; at most 10 minutes.</value>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Gets or sets how long a lease lasts if its holder never releases it (a process that crashed while requesting a token).</summary>
    /// <value>
    /// Defaults to 60 seconds; at most 10 minutes. Should cover one token request with its retries (with the default
    /// <see cref="M3terAuthOptions.TokenRequestTimeout"/> and retries, 4 attempts of up to 10 s and about 7 s of back-off), so that no second
    /// process takes the lease while the first is still asking.
    /// </value>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Gets or sets how long a process with no token waits for another process's token (while that one holds the lease) before requesting its own.</summary>
    /// <value>
    /// Defaults to 10 seconds (one <see cref="M3terAuthOptions.TokenRequestTimeout"/>); at most 1 minute. The wait
    /// ends sooner when the holder's token arrives, when the holder gives the lease up (its request failed: the
    /// waiter takes the lease over) or when Redis becomes unavailable.
    /// </value>
    public TimeSpan LeaseWaitTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
