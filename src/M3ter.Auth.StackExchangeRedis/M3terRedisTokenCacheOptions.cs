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
    /// <value>
    /// None by default. Called on first use, and again on a later use after the connection it returned failed (its
    /// task faulted or was cancelled); the cache does not dispose what it returns. Takes precedence over <see cref="Configuration"/>.
    /// </value>
    public Func<Task<IConnectionMultiplexer>>? ConnectionMultiplexerFactory { get; set; }

    /// <summary>Gets or sets the prefix of every Redis key the cache writes.</summary>
    /// <value>Defaults to <c>m3ter-auth:</c>. The rest of the key is an HMAC of the base address and access key id, never either of them.</value>
    public string KeyPrefix { get; set; } = "m3ter-auth:";

    /// <summary>Gets or sets how long a caller waits for one Redis read before it counts as a miss.</summary>
    /// <value>
    /// Defaults to 250 milliseconds; at most 10 seconds. Slow is not dead: the circuit breaker opens when a call fails,
    /// or is still unanswered after four times this long (<see cref="ConnectTimeout"/> until Redis has answered once).
    /// Taking the lease waits that long too, since its answer saves a token request.
    /// </value>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Gets or sets how long the first call waits for the connection to Redis to open, and how long calls may take until Redis has answered once.</summary>
    /// <value>
    /// Defaults to 3 seconds; at most 30 seconds. Only the call that starts the connection waits for it (a new
    /// process's first token request); calls that come while it is still opening are misses at once. If Redis cannot be
    /// reached (a refused connection fails at once; one that gets no answer takes this long), a process's first token
    /// is at most this much later than without the cache. Until Redis has answered once, a call may take this long
    /// instead of <see cref="OperationTimeout"/>: a new process's first commands pay for warming up, which on a busy
    /// machine (many processes compiling StackExchange.Redis on a few cores) takes seconds, and is "not yet", not "down".
    /// </value>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Gets or sets how long the circuit breaker keeps Redis out of use after a failed or timed-out call.</summary>
    /// <value>Defaults to 15 seconds; at most 10 minutes.</value>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Gets or sets how long a lease outlives a holder that stopped renewing it (a process that crashed, or whose container was disposed, while requesting a token).</summary>
    /// <value>
    /// Defaults to 5 seconds; at least 1 second, at most 10 minutes. The holder renews its lease every third of this
    /// while its token request runs, for up to 5 minutes (far longer than a token request with all its retries takes
    /// with the default settings), so a slow holder is not abandoned and a dead one is noticed within this long.
    /// </value>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets or sets the longest a process with no token waits for another process's token while that one holds (and renews) the lease, before requesting its own.</summary>
    /// <value>
    /// Defaults to 60 seconds, more than one token request with all its retries takes (with the defaults, 4 attempts of
    /// up to 10 s and about 7 s of back-off); at most 10 minutes. The wait ends sooner when the holder's token
    /// arrives, when the holder gives the lease up or stops renewing it (its request failed, or it died: the waiter
    /// takes the lease over within <see cref="LeaseDuration"/>) or when Redis becomes unavailable.
    /// </value>
    public TimeSpan LeaseWaitTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>A copy of every setting (those added later too), so that changes made after the cache was created do not reach it.</summary>
    internal M3terRedisTokenCacheOptions Clone() => (M3terRedisTokenCacheOptions)MemberwiseClone();
}
