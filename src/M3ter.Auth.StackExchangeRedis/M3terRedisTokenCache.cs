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
public sealed class M3terRedisTokenCache : ISharedTokenCache, ISharedRejectionCache, IDisposable, IAsyncDisposable
{
    // Lua keeps each compare-and-change atomic (and Redis Cluster safe: every key of a call shares one hash slot).
    // Every script checks the key's type first: a key of another type (left by a script, an older version, a person)
    // would make HGET or GET fail with WRONGTYPE, which would open the breaker on every call, for good. What is not
    // ours is a miss to readers and is replaced by writers.
    // A value larger than ARGV[1] bytes is never sent: no token is that large, and reading one (64 MB, say) would time
    // out on every read, so the entry would never be found unreadable and never be replaced. It reads as unreadable.
    private const string ReadScript = """
        if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return false end
        if redis.call('HSTRLEN', KEYS[1], 'v') > tonumber(ARGV[1]) then return {false, false} end
        return redis.call('HMGET', KEYS[1], 'exp', 'v')
        """;

    // ARGV: expiry (unix ms), sealed value, fingerprint, time to live (ms, relative: Redis's clock, not ours), force.
    // An entry whose expiry is not a number is not ours; "force" overwrites an entry this process could not read.
    private const string WriteIfNewerScript = """
        local t = redis.call('TYPE', KEYS[1]).ok
        if t == 'hash' then
          local cur = tonumber(redis.call('HGET', KEYS[1], 'exp'))
          if cur and cur >= tonumber(ARGV[1]) and ARGV[5] ~= '1' then return 0 end
        elseif t ~= 'none' then
          redis.call('DEL', KEYS[1])
        end
        redis.call('HSET', KEYS[1], 'exp', ARGV[1], 'v', ARGV[2], 'fp', ARGV[3])
        redis.call('PEXPIRE', KEYS[1], ARGV[4])
        redis.call('DEL', KEYS[2])
        return 1
        """;

    // A refusal of the credentials, shared until it runs out (or a token is written: KEYS[2] above). Bounded as the
    // token's read is.
    private const string ReadRejectionScript = """
        if redis.call('TYPE', KEYS[1]).ok ~= 'string' or redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[1]) then return false end
        return redis.call('GET', KEYS[1])
        """;
    private const string WriteRejectionScript = """
        return redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        """;
    private const string RemoveIfHoldsScript = """
        if redis.call('TYPE', KEYS[1]).ok == 'hash' and redis.call('HGET', KEYS[1], 'fp') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """;

    // Taken if free; extended if this owner already holds it; a key that is not a lease (another type, or a string
    // with no expiry, which no lease is) is replaced rather than blocking every process until someone deletes it.
    private const string AcquireLeaseScript = """
        local t = redis.call('TYPE', KEYS[1]).ok
        if t == 'string' and redis.call('PTTL', KEYS[1]) >= 0 then
          if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        elseif t ~= 'none' then
          redis.call('DEL', KEYS[1])
        end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return 1
        """;
    // Renewal only extends a lease this owner holds; it never takes one (a renewal that arrives after the release
    // must not bring the lease back).
    private const string ExtendLeaseScript = """
        if redis.call('TYPE', KEYS[1]).ok == 'string' and redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return 0
        """;
    private const string ReleaseLeaseScript = """
        if redis.call('TYPE', KEYS[1]).ok == 'string' and redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """;

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
    private readonly object _gate = new();
    private Task<IConnectionMultiplexer>? _connection;
    private bool _ownsConnection;
    private Task? _connectWait; // under _gate: the bounded wait for the opening connection, shared by every call meanwhile
    private Task? _connectWaitFor; // under _gate: the connection attempt _connectWait waits for
    private bool _answered;
    private long _openUntilTicks;
    private string? _openReason;
    private int _disposed;
    private int _probing;
    private long _trips;

    /// <summary>Initializes a new instance of the <see cref="M3terRedisTokenCache"/> class. It does not connect until first used.</summary>
    /// <param name="options">Where Redis is, and the timeouts; copied.</param>
    /// <param name="timeProvider">The clock of the circuit breaker; <see cref="TimeProvider.System"/> by default.</param>
    /// <param name="logger">Where to log; nothing by default. Nothing logged contains a secret, a token or the configuration string.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="options"/> is not valid; the message names the setting.</exception>
    public M3terRedisTokenCache(M3terRedisTokenCacheOptions options, TimeProvider? timeProvider = null, ILogger<M3terRedisTokenCache>? logger = null)
    {
        M3terRedisTokenCacheOptionsValidator.ThrowIfInvalid(options, nameof(options));
        _options = new M3terRedisTokenCacheOptions
        {
            Configuration = options.Configuration,
            ConnectionMultiplexerFactory = options.ConnectionMultiplexerFactory,
            KeyPrefix = options.KeyPrefix,
            OperationTimeout = options.OperationTimeout,
            ConnectTimeout = options.ConnectTimeout,
            BreakDuration = options.BreakDuration,
            LeaseDuration = options.LeaseDuration,
            LeaseWaitTimeout = options.LeaseWaitTimeout,
        };
        _timeProvider = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public TimeSpan LeaseWaitTimeout => _options.LeaseWaitTimeout;

    /// <inheritdoc />
    public string? Unavailable
    {
        get
        {
            lock (_gate)
            {
                return _timeProvider.GetUtcNow().UtcTicks < _openUntilTicks
                    ? string.Format(CultureInfo.InvariantCulture, "Redis is unavailable ({0}); next try at {1:O}", _openReason, new DateTimeOffset(_openUntilTicks, TimeSpan.Zero))
                    : null;
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask<M3terToken?> ReadAsync(SharedTokenScope scope, CancellationToken cancellationToken = default)
    {
        ScopeKeys keys = Keys(scope);
        RedisResult? result = (await RunAsync("read", (db, k) => db.ScriptEvaluateAsync(ReadScript, [k.TokenKey], [MaxEntryBytes]), keys, CallKind.Read, cancellationToken).ConfigureAwait(false)).Value;
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
        keys.MarkReadable();
        return token;
    }

    /// <inheritdoc />
    public async ValueTask<bool> TryAcquireLeaseAsync(SharedTokenScope scope, CancellationToken cancellationToken = default)
    {
        ScopeKeys keys = Keys(scope);
        string owner = scope.LeaseOwner;
        long leaseMs = (long)_options.LeaseDuration.TotalMilliseconds;
        CallResult result = await RunAsync("lease", (db, k) => db.ScriptEvaluateAsync(AcquireLeaseScript, [k.LeaseKey], [owner, leaseMs]), keys, CallKind.Lease, cancellationToken).ConfigureAwait(false);
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
        CallResult released = await RunAsync("release", (db, k) => db.ScriptEvaluateAsync(ReleaseLeaseScript, [k.LeaseKey], [owner]), keys, kind, cancellationToken).ConfigureAwait(false);
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
        string fingerprint = keys.Fingerprint(token.AccessToken);
        long timeToLiveMs = Math.Max(1, (long)(removeAt - _timeProvider.GetUtcNow()).TotalMilliseconds);
        bool force = keys.Unreadable;
        CallKind kind = keys.LeaseMaybeHeld(_timeProvider.GetUtcNow().UtcTicks) ? CallKind.Must : CallKind.Read; // the fleet may be waiting for this token
        RedisResult? written = (await RunAsync("write", (db, k) => db.ScriptEvaluateAsync(WriteIfNewerScript, [k.TokenKey, k.RefusedKey], [expiresMs, sealedValue, fingerprint, timeToLiveMs, force ? "1" : "0"]), keys, kind, cancellationToken).ConfigureAwait(false)).Value;
        if (written is not null && (int)written == 1)
        {
            keys.NoteWritten(expiresMs);
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
        await RunAsync("remove", (db, k) => db.ScriptEvaluateAsync(RemoveIfHoldsScript, [k.TokenKey], [fingerprint]), keys, CallKind.Read, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<SharedRejection?> ReadRejectionAsync(SharedTokenScope scope, CancellationToken cancellationToken = default)
    {
        ScopeKeys keys = Keys(scope);
        RedisResult? result = (await RunAsync("read_rejection", (db, k) => db.ScriptEvaluateAsync(ReadRejectionScript, [k.RefusedKey], [MaxEntryBytes]), keys, CallKind.Read, cancellationToken).ConfigureAwait(false)).Value;
        if (result is null || result.IsNull)
        {
            return null;
        }

        SharedRejection? rejection = keys.OpenRejection((byte[]?)result);
        if (rejection is null)
        {
            M3terRedisTokenCacheDiagnostics.RecordError("invalid_entry"); // not one this scope wrote: no refusal
        }

        return rejection;
    }

    /// <inheritdoc />
    public async ValueTask WriteRejectionAsync(SharedTokenScope scope, SharedRejection rejection, CancellationToken cancellationToken = default)
    {
        if (rejection is null)
        {
            throw new ArgumentNullException(nameof(rejection));
        }

        // It stands until the refusing process's own memory of it ends, and a day at most in Redis.
        TimeSpan left = rejection.Until - _timeProvider.GetUtcNow();
        if (left <= TimeSpan.Zero)
        {
            return;
        }

        ScopeKeys keys = Keys(scope);
        byte[] sealedValue = keys.SealRejection(rejection);
        long timeToLiveMs = Math.Max(1, (long)Math.Min(left.TotalMilliseconds, MaxRejectionHold.TotalMilliseconds));
        CallKind kind = keys.LeaseMaybeHeld(_timeProvider.GetUtcNow().UtcTicks) ? CallKind.Must : CallKind.Read; // the fleet may be waiting for this answer
        await RunAsync("write_rejection", (db, k) => db.ScriptEvaluateAsync(WriteRejectionScript, [k.RefusedKey], [sealedValue, timeToLiveMs]), keys, kind, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens the connection and sends one read (of a key no registration uses), so the first real call finds both
    /// ready; bounded like any first call, by <see cref="M3terRedisTokenCacheOptions.ConnectTimeout"/>. Never throws:
    /// a failure opens the breaker, as any failed call does.
    /// </summary>
    internal async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ReadAsync(WarmUpScope.Value, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The host gave up starting: nothing to warm.
        }
        catch (ObjectDisposedException)
        {
            // Disposed meanwhile.
        }
    }

    /// <summary>Closes the connection if the cache opened it (not one from <see cref="M3terRedisTokenCacheOptions.ConnectionMultiplexerFactory"/>).</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>Closes the connection if the cache opened it (not one from <see cref="M3terRedisTokenCacheOptions.ConnectionMultiplexerFactory"/>).</summary>
    /// <returns>A task that completes when the connection is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Task<IConnectionMultiplexer>? connection;
        lock (_gate)
        {
            connection = _ownsConnection ? _connection : null; // after this, Connection() opens nothing new
        }

        if (connection is { IsCompletedSuccessfully: true })
        {
            await connection.Result.DisposeAsync().ConfigureAwait(false);
        }
        else if (connection is not null)
        {
            // Still connecting: close it when it is done.
            _ = connection.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
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

    /// <summary>
    /// One Redis call, bounded and guarded by the circuit breaker. Its value is null when the breaker is open, the
    /// connection is not ready, or the call fails or times out; <see cref="CallResult.MaybeRan"/> then says whether it
    /// was sent (Redis may have run it). Slow is not dead: a read that takes longer than the operation timeout is a miss
    /// for its caller, but opens the breaker only if it is still unanswered at the hard bound (or fails). A lease call,
    /// whose answer saves a token request, waits for the hard bound. The write and the release of a lease this process
    /// may hold go to Redis even while the breaker is open; once sent, they run in Redis whether or not their caller
    /// waits for the answer, in the order they were sent. Once the break is over, one call probes Redis while the
    /// others still miss; only a call that started after the last failure closes it.
    /// </summary>
    private async Task<CallResult> RunAsync(string operation, Func<IDatabase, ScopeKeys, Task<RedisResult>> call, ScopeKeys keys, CallKind kind, CancellationToken cancellationToken)
    {
        bool probe = false;
        long trips = Volatile.Read(ref _trips);
        if (Volatile.Read(ref _disposed) != 0 || (kind != CallKind.Must && !MayCall(out probe, out trips)))
        {
            return default;
        }

        Task<RedisResult>? pending = null;
        try
        {
            Task<IConnectionMultiplexer> connecting = Connection();
            if (!connecting.IsCompleted)
            {
                await WaitForConnectionAsync(connecting, cancellationToken).ConfigureAwait(false);
            }

            // Until Redis has answered once, a call may take ConnectTimeout: a new process's first commands pay for
            // warming up (on a busy machine, more than OperationTimeout) and must not trip the breaker for it.
            IConnectionMultiplexer connection = await connecting.ConfigureAwait(false);
            TimeSpan hard = HardTimeout;
            TimeSpan timeout = kind != CallKind.Lease && Volatile.Read(ref _answered) ? _options.OperationTimeout : hard;
            pending = call(connection.GetDatabase(), keys);
            RedisResult result;
            try
            {
                result = await pending.WaitAsync(timeout, _timeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException) when (timeout < hard)
            {
                _ = WatchSlowCallAsync(operation, pending, hard - timeout, probe, trips);
                probe = false; // a probe stays the only one until its watcher knows how it ended
                return new CallResult(null, MaybeRan: true);
            }

            Volatile.Write(ref _answered, true);
            Close(trips);
            return new CallResult(result, MaybeRan: true);
        }
        catch (Exception ex) when (Volatile.Read(ref _disposed) != 0 && ex is ObjectDisposedException or OperationCanceledException or RedisConnectionException)
        {
            Observe(pending);
            return new CallResult(null, MaybeRan: pending is not null); // disposed meanwhile: a miss, and nothing to report
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Observe(pending);
            throw;
        }
#pragma warning disable CA1031 // Redis trouble of any kind (a factory that throws included) is a miss, never the caller's failure.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Observe(pending);
            Trip(operation, ex);
            return new CallResult(null, MaybeRan: pending is not null);
        }
        finally
        {
            if (probe)
            {
                Volatile.Write(ref _probing, 0); // answered, failed or cancelled: the next call after the break may probe
            }
        }
    }

    /// <summary>
    /// How long a call may go unanswered before Redis counts as unavailable: <see cref="M3terRedisTokenCacheOptions.ConnectTimeout"/>
    /// until Redis has answered once (a new process warming up), then four operation timeouts.
    /// </summary>
    private TimeSpan HardTimeout =>
        Volatile.Read(ref _answered) ? TimeSpan.FromTicks(_options.OperationTimeout.Ticks * 4) : _options.ConnectTimeout;

    /// <summary>A read that outlived its caller's patience: Redis is slow, and counts as unavailable only if this call fails or stays unanswered until the hard bound.</summary>
    private async Task WatchSlowCallAsync(string operation, Task<RedisResult> pending, TimeSpan rest, bool probe, long trips)
    {
        try
        {
            await pending.WaitAsync(rest, _timeProvider, CancellationToken.None).ConfigureAwait(false);
            Volatile.Write(ref _answered, true);
            Close(trips);
        }
#pragma warning disable CA1031 // observed here, reported as the breaker opening
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Observe(pending);
            if (Volatile.Read(ref _disposed) == 0)
            {
                Trip(operation, ex);
            }
        }
        finally
        {
            if (probe)
            {
                Volatile.Write(ref _probing, 0);
            }
        }
    }

    /// <summary>When a lease taken or renewed now runs out.</summary>
    private long LeaseEndTicks() => _timeProvider.GetUtcNow().UtcTicks + _options.LeaseDuration.Ticks;

    /// <summary>Keeps a lease this process may hold alive while its token request runs, so that a slow holder is not abandoned and a dead one is noticed within one <see cref="M3terRedisTokenCacheOptions.LeaseDuration"/>.</summary>
    private void StartRenewal(ScopeKeys keys, string owner, long leaseMs)
    {
        lock (keys)
        {
            if (keys.Renewal is not null || Volatile.Read(ref _disposed) != 0)
            {
                return;
            }

            var renewer = new LeaseRenewer(this, keys, owner, leaseMs, _timeProvider.GetUtcNow() + MaxLeaseHold);
            TimeSpan period = TimeSpan.FromMilliseconds(Math.Max(leaseMs / 3, 1));
            bool suppress = !ExecutionContext.IsFlowSuppressed(); // a timer must not keep a caller's AsyncLocals alive
            AsyncFlowControl flow = suppress ? ExecutionContext.SuppressFlow() : default;
            try
            {
                renewer.Timer = _timeProvider.CreateTimer(static state => ((LeaseRenewer)state!).Tick(), renewer, period, period);
                keys.Renewal = renewer;
            }
            finally
            {
                if (suppress)
                {
                    flow.Undo();
                }
            }
        }
    }

    /// <summary>
    /// Stops the renewal of the scope's lease: any renewal (<paramref name="renewer"/> null, for a release), or only
    /// <paramref name="renewer"/> if it is still the current one, so that a renewal's late answer about a lease that
    /// was released meanwhile cannot stop the renewal of the next lease the process takes.
    /// </summary>
    private static bool StopRenewal(ScopeKeys keys, LeaseRenewer? renewer)
    {
        LeaseRenewer? current;
        lock (keys)
        {
            current = keys.Renewal as LeaseRenewer;
            if (current is null || (renewer is not null && !ReferenceEquals(current, renewer)))
            {
                return false;
            }

            keys.Renewal = null;
        }

        current.Timer?.Dispose();
        return true;
    }

    /// <summary>A call given up on (timed out, cancelled) may still fail later: its exception must not go unobserved.</summary>
    private static void Observe(Task<RedisResult>? pending)
    {
        if (pending is { IsCompleted: false })
        {
            _ = pending.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        else if (pending is { IsFaulted: true })
        {
            _ = pending.Exception;
        }
    }

    /// <summary>
    /// Every call that finds the connection opening waits for it, all on one wait that ends ConnectTimeout after the
    /// first such call began (so the first token is never later than that): a process whose first moments ask for
    /// several scopes at once (several tenants, say) coordinates each of them, instead of sending all but one ahead as
    /// misses. If the connection is not open by then, Redis counts as unavailable (the breaker opens), and calls fail at
    /// once while it is still opening.
    /// </summary>
    private Task WaitForConnectionAsync(Task<IConnectionMultiplexer> connecting, CancellationToken cancellationToken)
    {
        Task wait;
        lock (_gate)
        {
            // Not the caller's token: the wait is shared, and one caller giving up must not end it for the others.
            if (_connectWait is null || !ReferenceEquals(_connectWaitFor, connecting))
            {
                _connectWaitFor = connecting; // a new attempt (the last one failed) gets a wait of its own
                _connectWait = connecting.WaitAsync(_options.ConnectTimeout, _timeProvider, CancellationToken.None);
            }

            wait = _connectWait;
        }

        // A TimeoutException means unavailable: the breaker opens; the connection keeps opening in the background.
        return wait.WaitAsync(Timeout.InfiniteTimeSpan, _timeProvider, cancellationToken);
    }

    private Task<IConnectionMultiplexer> Connection()
    {
        lock (_gate)
        {
            if (Volatile.Read(ref _disposed) != 0)
            {
                throw new ObjectDisposedException(nameof(M3terRedisTokenCache)); // never open a connection nobody will close
            }

            if (_connection is { IsFaulted: false, IsCanceled: false } connection)
            {
                return connection;
            }

            // First use, or the last attempt failed (the breaker has let us try again): connect now, in the background.
            _connectWait = null;
            _connectWaitFor = null;
            _ownsConnection = _options.ConnectionMultiplexerFactory is null;
            _connection = _options.ConnectionMultiplexerFactory is { } factory ? factory() : ConnectAsync(_options.Configuration!);
            _connection.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return _connection;
        }
    }

    private static async Task<IConnectionMultiplexer> ConnectAsync(string configuration)
    {
        ConfigurationOptions options = ConfigurationOptions.Parse(configuration);

        // Never block on a missing Redis: connect in the background, fail commands at once while disconnected (the
        // default backlog would queue them), and keep trying to reconnect every second.
        options.AbortOnConnectFail = false;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        options.ReconnectRetryPolicy = new LinearRetry(1000);
        return await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
    }

    /// <summary>
    /// Whether a call may go to Redis: always while the breaker is closed; while it is open, never during the break,
    /// and after it only as the one probe (<paramref name="probe"/>). <paramref name="trips"/> is the failure count
    /// the call starts under.
    /// </summary>
    private bool MayCall(out bool probe, out long trips)
    {
        probe = false;
        trips = Volatile.Read(ref _trips);
        if (Volatile.Read(ref _openReason) is null)
        {
            return true;
        }

        if (_timeProvider.GetUtcNow().UtcTicks < Volatile.Read(ref _openUntilTicks) || Interlocked.CompareExchange(ref _probing, 1, 0) != 0)
        {
            return false;
        }

        probe = true;
        trips = Volatile.Read(ref _trips);
        return true;
    }

    private void Trip(string operation, Exception ex)
    {
        string reason = operation + ": " + Describe(ex);
        bool wasClosed;
        lock (_gate)
        {
            long now = _timeProvider.GetUtcNow().UtcTicks;
            wasClosed = _openReason is null;
            Volatile.Write(ref _openUntilTicks, now + _options.BreakDuration.Ticks);
            Volatile.Write(ref _openReason, reason);
            Interlocked.Increment(ref _trips);
        }

        M3terRedisTokenCacheDiagnostics.RecordError(ex is TimeoutException or OperationCanceledException ? "timeout" : ex.GetType().Name);
        if (wasClosed)
        {
            Log.Unavailable(_logger, reason, _options.BreakDuration);
        }
    }

    /// <summary>Closes the breaker after a call that succeeded, unless a call failed after this one started (its answer is older than that failure).</summary>
    private void Close(long trips)
    {
        if (Volatile.Read(ref _openReason) is null)
        {
            return;
        }

        lock (_gate)
        {
            if (_openReason is null || Volatile.Read(ref _trips) != trips)
            {
                return;
            }

            Volatile.Write(ref _openReason, null);
            Volatile.Write(ref _openUntilTicks, 0);
        }

        Log.Recovered(_logger);
    }

    /// <summary>Says what went wrong without the configuration string or any value (StackExchange.Redis messages can quote endpoints and commands).</summary>
    private static string Describe(Exception ex) => ex switch
    {
        TimeoutException or OperationCanceledException => "no answer within the operation timeout",
        RedisConnectionException connection => "connection failure (" + connection.FailureType + ")",
        RedisServerException => "Redis refused the command",
        _ => ex.GetType().Name,
    };

    /// <summary>What a Redis call came to: its answer, or none, and whether it was sent (so Redis may have run it).</summary>
    private readonly record struct CallResult(RedisResult? Value, bool MaybeRan);

    private enum CallKind
    {
        /// <summary>A read, a removal or a renewal: a miss when slow; the breaker opens at the hard bound.</summary>
        Read,

        /// <summary>Taking the lease: waits for the hard bound, since its answer saves a token request.</summary>
        Lease,

        /// <summary>The write and release of a lease this process may hold: sent even while the breaker is open; otherwise as a read.</summary>
        Must,
    }

    /// <summary>Renews one held lease every third of its duration, until it is released, lost, the cache is disposed or <see cref="MaxLeaseHold"/> passes.</summary>
    private sealed class LeaseRenewer(M3terRedisTokenCache cache, ScopeKeys keys, string owner, long leaseMs, DateTimeOffset until)
    {
        private int _busy;

        public ITimer? Timer { get; set; }

        public void Tick()
        {
            if (Interlocked.Exchange(ref _busy, 1) == 0)
            {
                _ = RenewAsync();
            }
        }

        private async Task RenewAsync()
        {
            try
            {
                if (Volatile.Read(ref cache._disposed) != 0 || cache._timeProvider.GetUtcNow() > until)
                {
                    StopRenewal(keys, this); // the lease runs out LeaseDuration after the last renewal
                    return;
                }

                long renewedUntil = cache.LeaseEndTicks();
                CallResult renewed = await cache.RunAsync("renew", (db, k) => db.ScriptEvaluateAsync(ExtendLeaseScript, [k.LeaseKey], [owner, leaseMs]), keys, CallKind.Read, CancellationToken.None).ConfigureAwait(false);
                if (renewed.Value is not RedisResult answer)
                {
                    return; // no answer: tried again at the next tick
                }

                lock (keys)
                {
                    if (!ReferenceEquals(keys.Renewal, this))
                    {
                        return; // released meanwhile (and maybe taken again): this answer is about a lease that is gone
                    }

                    if ((int)answer == 1)
                    {
                        keys.LeaseMaybeHeldUntil(renewedUntil);
                        return;
                    }

                    keys.LeaseNotHeld(); // not ours (any more): nothing to keep alive or release
                }

                StopRenewal(keys, this);
            }
#pragma warning disable CA1031 // a renewal that fails is retried at the next tick; the lease expires if none succeeds
            catch (Exception)
#pragma warning restore CA1031
            {
            }
            finally
            {
                Volatile.Write(ref _busy, 0);
            }
        }
    }
}
