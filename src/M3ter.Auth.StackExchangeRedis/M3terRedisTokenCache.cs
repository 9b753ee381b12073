using System;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.StackExchangeRedis.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace M3ter.Auth.StackExchangeRedis;

/// <summary>
/// An <see cref="ISharedTokenCache"/> on Redis: one encrypted entry per base address and credentials, a lease for the
/// process that requests the next token, and a circuit breaker that turns any Redis trouble into a miss.
/// </summary>
/// <remarks>
/// <para>Entries are AES-GCM encrypted under a key derived from the API secret (HKDF-SHA256), named by an HMAC of the
/// base address and access key id, and expire with the token. Nothing in Redis contains the access key id, the secret
/// or the token. No key ring needs sharing: processes with the same credentials derive the same keys.</para>
/// <para>Every Redis call is bounded by <see cref="M3terRedisTokenCacheOptions.OperationTimeout"/>. A failed or
/// timed-out call is a miss and opens the breaker for <see cref="M3terRedisTokenCacheOptions.BreakDuration"/>, during
/// which Redis is not called; the connection is made on first use, never in the constructor.</para>
/// </remarks>
public sealed partial class M3terRedisTokenCache : ISharedTokenCache, ISharedRejectionCache, IDisposable, IAsyncDisposable
{
    /// <summary>The largest sealed value a read accepts: a token of several kilobytes fits many times over.</summary>
    private const int MaxEntryBytes = 64 * 1024;

    /// <summary>The entry leaves Redis this long before the token expires (or a tenth of its life, if shorter).</summary>
    private static readonly TimeSpan ExpiryMargin = TimeSpan.FromMinutes(1);

    /// <summary>The longest a lease is renewed without being released: far beyond any token request with its retries.</summary>
    private static readonly TimeSpan MaxLeaseHold = TimeSpan.FromMinutes(5);

    /// <summary>The longest a shared refusal stays in Redis, whatever the refusing process remembers.</summary>
    private static readonly TimeSpan MaxRejectionHold = TimeSpan.FromDays(1);

    /// <summary>Whose entry the warm-up reads: none that any credentials can have (a reserved host, a fixed key).</summary>
    private static readonly Lazy<SharedTokenScope> WarmUpScope = new(() => new SharedTokenScope(new Uri("https://warm-up.invalid/"), "m3ter-auth-warm-up", "m3ter-auth-warm-up", "warm-up"));

    private readonly M3terRedisTokenCacheOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly ConditionalWeakTable<SharedTokenScope, ScopeKeys> _keys = new();
    private readonly RedisConnection _connection;
    private bool _answered;
    private readonly RedisCircuitBreaker _breaker;
    private int _disposed;

    /// <summary>Initializes a new instance of the <see cref="M3terRedisTokenCache"/> class. It does not connect until first used.</summary>
    /// <param name="options">Where Redis is, and the timeouts; copied.</param>
    /// <param name="timeProvider">The clock of the circuit breaker; <see cref="TimeProvider.System"/> by default.</param>
    /// <param name="logger">Where to log; nothing by default. Nothing logged contains a secret, a token or the configuration string.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="options"/> is not valid; the message names the setting.</exception>
    public M3terRedisTokenCache(M3terRedisTokenCacheOptions options, TimeProvider? timeProvider = null, ILogger<M3terRedisTokenCache>? logger = null)
    {
        M3terRedisTokenCacheOptionsValidator.ThrowIfInvalid(options, nameof(options));
        _options = options.Clone();
        _timeProvider = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _connection = new RedisConnection(_options, _timeProvider, () => Volatile.Read(ref _disposed) != 0);
        _breaker = new RedisCircuitBreaker(_options.BreakDuration, _timeProvider, _logger);
    }

    /// <inheritdoc />
    public TimeSpan LeaseWaitTimeout => _options.LeaseWaitTimeout;

    /// <inheritdoc />
    public string? Unavailable => _breaker.Unavailable;

    /// <inheritdoc />
    public async ValueTask<M3terToken?> ReadAsync(SharedTokenScope scope, CancellationToken cancellationToken = default)
    {
        ScopeKeys keys = Keys(scope);
        RedisResult? result = (await RunAsync("read", (db, k) => db.ScriptEvaluateAsync(RedisScripts.ReadScript, [k.TokenKey], [MaxEntryBytes]), keys, CallKind.Read, cancellationToken).ConfigureAwait(false)).Value;
        if (result is null || result.IsNull)
        {
            return null;
        }

        // A hash at our key, so written by M3ter.Auth or made to look so: anything short of a sealed token is unreadable.
        // So is an entry older than one this process has seen: an old entry written back (a replay).
        var fields = (RedisResult[])result!;
        long expiresMs = 0;
        M3terToken? token = fields.Length == 2 && !fields[0].IsNull && !fields[1].IsNull
            && long.TryParse((string?)fields[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out expiresMs)
            ? keys.Open((byte[]?)fields[1], expiresMs)
            : null;
        bool replayed = token is not null && keys.IsOlderThanSeen(expiresMs);
        if (token is null || replayed)
        {
            // Written under another secret's keys cannot reach this key; so this is tampering, garbage or a replay: a
            // miss, and the next write replaces it whatever expiry it claims. Logged once until an entry reads well again.
            M3terRedisTokenCacheDiagnostics.RecordError(replayed ? "replayed_entry" : "invalid_entry");
            if (keys.MarkUnreadable())
            {
                Log.EntryUnreadable(_logger);
            }

            return null;
        }

        keys.NoteSeen(expiresMs);
        keys.NoteIssued(token.IssuedAt.ToUnixTimeMilliseconds());
        keys.MarkReadable();
        return token;
    }

    /// <inheritdoc />
    public async ValueTask<bool> TryAcquireLeaseAsync(SharedTokenScope scope, CancellationToken cancellationToken = default)
    {
        ScopeKeys keys = Keys(scope);
        string owner = scope.LeaseOwner;
        long leaseMs = (long)_options.LeaseDuration.TotalMilliseconds;
        CallResult result = await RunAsync("lease", (db, k) => db.ScriptEvaluateAsync(RedisScripts.AcquireLeaseScript, [k.LeaseKey], [owner, leaseMs]), keys, CallKind.Lease, cancellationToken).ConfigureAwait(false);
        if (result.Value is RedisResult answer && (int)answer != 1)
        {
            return false; // another process holds it, and renews it while it works
        }

        // Taken, or no answer: nothing can be coordinated, so this process goes ahead (the lease only saves duplicate
        // requests). A call that got no answer may still have run: the lease may be ours, so it is kept alive and
        // released like one we took, and the token written, whatever the circuit breaker says.
        if (result.Value is not null || result.MaybeRan)
        {
            keys.LeaseMaybeHeldUntil(LeaseEndTicks());
            StartRenewal(keys, owner, leaseMs);
        }

        return true;
    }

    /// <inheritdoc />
    public async ValueTask ReleaseLeaseAsync(SharedTokenScope scope, CancellationToken cancellationToken = default)
    {
        string owner = scope.LeaseOwner;
        ScopeKeys keys = Keys(scope);
        StopRenewal(keys, renewer: null);
        CallKind kind = keys.LeaseMaybeHeld(_timeProvider.GetUtcNow().UtcTicks) ? CallKind.Must : CallKind.Read;
        CallResult released = await RunAsync("release", (db, k) => db.ScriptEvaluateAsync(RedisScripts.ReleaseLeaseScript, [k.LeaseKey], [owner]), keys, kind, cancellationToken).ConfigureAwait(false);
        if (released.Value is not null)
        {
            keys.LeaseNotHeld();
        }
    }

    /// <inheritdoc />
    public async ValueTask WriteIfNewerAsync(SharedTokenScope scope, M3terToken token, CancellationToken cancellationToken = default)
    {
        if (token is null)
        {
            throw new ArgumentNullException(nameof(token));
        }

        // The entry lives as long as the token, less a margin, never a fixed default.
        TimeSpan lifetime = token.ExpiresAt - (token.IssuedAt < token.ExpiresAt ? token.IssuedAt : _timeProvider.GetUtcNow());
        TimeSpan margin = TimeSpan.FromTicks(Math.Min(ExpiryMargin.Ticks, Math.Max(lifetime.Ticks / 10, 0)));
        DateTimeOffset removeAt = token.ExpiresAt - margin;
        if (removeAt <= _timeProvider.GetUtcNow())
        {
            return;
        }

        ScopeKeys keys = Keys(scope);
        long expiresMs = token.ExpiresAt.ToUnixTimeMilliseconds();
        byte[] sealedValue = keys.Seal(token, expiresMs);
        long issuedMs = token.IssuedAt.ToUnixTimeMilliseconds();
        string fingerprint = keys.Fingerprint(token.AccessToken);
        long timeToLiveMs = Math.Max(1, (long)(removeAt - _timeProvider.GetUtcNow()).TotalMilliseconds);
        bool force = keys.Unreadable;
        CallKind kind = keys.LeaseMaybeHeld(_timeProvider.GetUtcNow().UtcTicks) ? CallKind.Must : CallKind.Read; // the fleet may be waiting for this token
        RedisResult? written = (await RunAsync("write", (db, k) => db.ScriptEvaluateAsync(RedisScripts.WriteIfNewerScript, [k.TokenKey, k.RefusedKey], [expiresMs, sealedValue, fingerprint, timeToLiveMs, force ? "1" : "0", issuedMs]), keys, kind, cancellationToken).ConfigureAwait(false)).Value;
        if (written is not null && (int)written == 1)
        {
            keys.NoteWritten(expiresMs);
            keys.NoteIssued(issuedMs);
            if (force)
            {
                keys.MarkReadable();
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask RemoveIfHoldsAsync(SharedTokenScope scope, M3terToken token, CancellationToken cancellationToken = default)
    {
        if (token is null)
        {
            throw new ArgumentNullException(nameof(token));
        }

        ScopeKeys keys = Keys(scope);
        string fingerprint = keys.Fingerprint(token.AccessToken);
        await RunAsync("remove", (db, k) => db.ScriptEvaluateAsync(RedisScripts.RemoveIfHoldsScript, [k.TokenKey], [fingerprint]), keys, CallKind.Read, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<SharedRejection?> ReadRejectionAsync(SharedTokenScope scope, CancellationToken cancellationToken = default)
    {
        ScopeKeys keys = Keys(scope);
        RedisResult? result = (await RunAsync("read_rejection", (db, k) => db.ScriptEvaluateAsync(RedisScripts.ReadRejectionScript, [k.RefusedKey, k.TokenKey], [MaxEntryBytes]), keys, CallKind.Read, cancellationToken).ConfigureAwait(false)).Value;
        if (result is null || result.IsNull)
        {
            return null;
        }

        var fields = (RedisResult[])result!;
        SharedRejection? rejection = fields.Length == 2 && !fields[0].IsNull && !fields[1].IsNull
            && long.TryParse((string?)fields[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out long atMs)
            ? keys.OpenRejection((byte[]?)fields[1], atMs, MaxRejectionHold)
            : null;
        if (rejection is null)
        {
            M3terRedisTokenCacheDiagnostics.RecordError("invalid_entry"); // not one this scope wrote: no refusal
            return null;
        }

        // A refusal made before a token this process has seen was issued is over, wherever it comes from (a late
        // write, or one written back): the credentials have worked since.
        return keys.IsOverByTokenSeen(rejection.RefusedAt.ToUnixTimeMilliseconds()) ? null : rejection;
    }

    /// <inheritdoc />
    public async ValueTask WriteRejectionAsync(SharedTokenScope scope, SharedRejection rejection, CancellationToken cancellationToken = default)
    {
        if (rejection is null)
        {
            throw new ArgumentNullException(nameof(rejection));
        }

        // It stands until the refusing process's own memory of it ends, a day at most (in Redis and when read back),
        // and not once a token issued after it is written.
        TimeSpan left = rejection.Until - _timeProvider.GetUtcNow();
        if (left <= TimeSpan.Zero)
        {
            return;
        }

        ScopeKeys keys = Keys(scope);
        byte[] sealedValue = keys.SealRejection(rejection);
        long timeToLiveMs = Math.Max(1, (long)Math.Min(left.TotalMilliseconds, MaxRejectionHold.TotalMilliseconds));
        CallKind kind = keys.LeaseMaybeHeld(_timeProvider.GetUtcNow().UtcTicks) ? CallKind.Must : CallKind.Read; // the fleet may be waiting for this answer
        long atMs = rejection.RefusedAt.ToUnixTimeMilliseconds();
        await RunAsync("write_rejection", (db, k) => db.ScriptEvaluateAsync(RedisScripts.WriteRejectionScript, [k.RefusedKey, k.TokenKey], [atMs, sealedValue, timeToLiveMs]), keys, kind, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Closes the connection if the cache opened it (not one from <see cref="M3terRedisTokenCacheOptions.ConnectionMultiplexerFactory"/>).</summary>
    public void Dispose()
    {
        if (TakeOwnConnection() is { IsCompletedSuccessfully: true } connection)
        {
            connection.Result.Dispose();
        }
    }

    /// <summary>Closes the connection if the cache opened it (not one from <see cref="M3terRedisTokenCacheOptions.ConnectionMultiplexerFactory"/>).</summary>
    /// <returns>A task that completes when the connection is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (TakeOwnConnection() is { IsCompletedSuccessfully: true } connection)
        {
            await connection.Result.DisposeAsync().ConfigureAwait(false);
        }
    }

    private ScopeKeys Keys(SharedTokenScope scope)
    {
        if (scope is null)
        {
            throw new ArgumentNullException(nameof(scope));
        }

        return _keys.GetValue(scope, s => new ScopeKeys(s, _options.KeyPrefix));
    }
}
