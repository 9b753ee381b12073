using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace M3ter.Auth.Tenants;

/// <summary>
/// The tenants held at one time: each with its own credentials (from the source), token provider and hosts, at most
/// <see cref="M3terTenantOptions.MaxTenants"/> of them (the least recently used goes first), each dropped after
/// <see cref="M3terTenantOptions.IdleTimeout"/> unused.
/// </summary>
/// <remarks>
/// <para>The warm path (a held tenant with a fresh token) is two dictionary reads and two plain writes: no lock, no
/// clock, no allocation. Everything that changes what is held (a lookup's result, an eviction, a rotation, a sweep)
/// happens under one lock, off the warm path.</para>
/// <para>A lookup is shared by the callers of one tenant that arrive while it runs, never by two tenants: both the
/// held tenants and the lookups in flight are keyed by the tenant's name, ordinally.</para>
/// </remarks>
internal sealed class TenantCache : IM3terTenantTokenProvider, IDisposable
{
    private readonly Func<string, CancellationToken, ValueTask<M3terCredentials?>> _source;
    private readonly Func<M3terAuthOptions, TokenProvider> _createProvider;
    private readonly M3terTenantOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, TenantState> _held = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private readonly Dictionary<string, Lookup> _lookups = new(StringComparer.Ordinal); // under _gate
    private readonly Dictionary<string, long> _unknownUntil = new(StringComparer.Ordinal); // under _gate
    private readonly CancellationTokenSource _disposed = new();
    private readonly UseClock _clock = new();
    private readonly ITimer? _sweeper;
    private readonly long _idleTicks;
    private TenantState? _last; // the tenant used last: the next request for it skips the dictionary
    private int _count; // under _gate
    private long _lastSweepTicks; // under _gate
    private bool _isDisposed; // under _gate

    public TenantCache(
        Func<string, CancellationToken, ValueTask<M3terCredentials?>> source,
        M3terTenantOptions options,
        Func<M3terAuthOptions, TokenProvider> createProvider,
        TimeProvider? timeProvider = null,
        ILogger? logger = null)
    {
        _source = source ?? throw new ArgumentNullException(nameof(source));
        _createProvider = createProvider ?? throw new ArgumentNullException(nameof(createProvider));
        List<string> errors = M3terTenantOptionsValidator.Collect(options ?? throw new ArgumentNullException(nameof(options)));
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid m3ter tenant options: " + string.Join(" ", errors), nameof(options));
        }

        _options = options;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _lastSweepTicks = _timeProvider.GetUtcNow().UtcTicks;
        if (options.IdleTimeout != Timeout.InfiniteTimeSpan)
        {
            _idleTicks = options.IdleTimeout.Ticks;
            TimeSpan period = TimeSpan.FromTicks(Math.Min(Math.Max(_idleTicks / 30, TimeSpan.TicksPerSecond), TimeSpan.TicksPerMinute));

            // The timer holds the cache weakly: a cache nobody disposed can still be collected.
            var self = new WeakReference<TenantCache>(this);
            _sweeper = DetachedContext.Run(
                static state => state.Time.CreateTimer(static s => { if (((WeakReference<TenantCache>)s!).TryGetTarget(out TenantCache? cache)) { cache.Sweep(); } }, state.Self, state.Period, state.Period),
                (Time: _timeProvider, Self: self, Period: period));
        }
    }

    /// <summary>Gets how many tenants are held now.</summary>
    internal int Count => Volatile.Read(ref _count);

    /// <inheritdoc />
    public ValueTask<M3terToken> GetTokenAsync(string tenant, CancellationToken cancellationToken = default)
    {
        CheckTenant(tenant);
        if (TryGetHeld(tenant, out TenantState state))
        {
            if (state.Provider.FreshToken is M3terToken token)
            {
                return new ValueTask<M3terToken>(token);
            }
        }

        return new ValueTask<M3terToken>(GetTokenSlowAsync(tenant, cancellationToken));
    }

    /// <inheritdoc />
    public void Invalidate(string tenant, M3terToken token)
    {
        CheckTenant(tenant);
        if (token is null)
        {
            throw new ArgumentNullException(nameof(token));
        }

        if (_held.TryGetValue(tenant, out TenantState? state))
        {
            state.Provider.Invalidate(token);
        }
    }

    /// <inheritdoc />
    public void Forget(string tenant)
    {
        CheckTenant(tenant);
        lock (_gate)
        {
            _unknownUntil.Remove(tenant);
            _lookups.Remove(tenant); // a lookup in flight still answers its callers, but what it finds is not held
            if (_held.TryGetValue(tenant, out TenantState? state))
            {
                Drop(state, "forgotten");
            }
        }
    }

    /// <summary>The handler's warm path: the tenant's route if it is held (and marks it used).</summary>
    /// <summary>The tenants held now (a moment's view, without a lock), for the health check.</summary>
    internal IEnumerable<TenantState> HeldTenants()
    {
        foreach (KeyValuePair<string, TenantState> pair in _held)
        {
            yield return pair.Value;
        }
    }

    internal bool TryGetHeld(string tenant, out TenantState state)
    {
        // Requests for one tenant tend to come in runs (a batch, a worker): the last one used is checked first, by
        // name, so it can only ever be this tenant's; a state no longer held falls through to the dictionary.
        TenantState? last = Volatile.Read(ref _last);
        if (last is not null && last.IsHeld && string.Equals(last.Tenant, tenant, StringComparison.Ordinal))
        {
            Touch(last);
            state = last;
            return true;
        }

        if (_held.TryGetValue(tenant, out TenantState? held))
        {
            Touch(held);
            Volatile.Write(ref _last, held);
            state = held;
            return true;
        }

        state = null!;
        return false;
    }

    /// <summary>The tenant's state: held, or looked up (one lookup per tenant, shared by the callers that arrive while it runs).</summary>
    internal async Task<TenantState> GetStateAsync(string tenant, CancellationToken cancellationToken)
    {
        Task<TenantState> lookup;
        Lookup? running;
        lock (_gate)
        {
            if (_isDisposed)
            {
                throw new ObjectDisposedException(nameof(IM3terTenantTokenProvider));
            }

            if (_held.TryGetValue(tenant, out TenantState? held))
            {
                Touch(held);
                return held;
            }

            if (_unknownUntil.TryGetValue(tenant, out long until))
            {
                if (_timeProvider.GetUtcNow().UtcTicks < until)
                {
                    throw UnknownTenant(tenant);
                }

                _unknownUntil.Remove(tenant);
            }

            if (!_lookups.TryGetValue(tenant, out running))
            {
                running = new Lookup();
                _lookups[tenant] = running;

                // On the thread pool, outside the lock, any caller's synchronization context and ExecutionContext: a
                // synchronous Send on a UI thread blocks that thread, so nothing of the lookup may be queued to it.
                _ = DetachedContext.Run(static state => Task.Run(() => state.Cache.LookUpAsync(state.Tenant, state.Lookup)), (Cache: this, Tenant: tenant, Lookup: running));
            }

            running.Waiters++;
            lookup = running.Completion.Task;
        }

        try
        {
            return await lookup.WaitForAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (M3terAuthException shared) when (lookup.IsFaulted)
        {
            throw shared.ForCaller(); // one failed lookup reaches many callers: each gets its own exception
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The last caller to give up abandons the lookup: a source that hangs once does not hold the tenant for
            // good; the next caller asks again (what the abandoned lookup finds is not held).
            lock (_gate)
            {
                if (--running.Waiters == 0 && !lookup.IsCompleted && _lookups.TryGetValue(tenant, out Lookup? current) && ReferenceEquals(current, running))
                {
                    _lookups.Remove(tenant);
                }
            }

            throw;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_isDisposed)
            {
                return;
            }

            _isDisposed = true;
            _sweeper?.Dispose();
            _disposed.Cancel();
            foreach (KeyValuePair<string, TenantState> pair in _held)
            {
                pair.Value.IsHeld = false;
                pair.Value.Provider.Dispose();
            }

            _last = null;

            M3terAuthDiagnostics.TenantsHeld.Add(-_count);
            _held.Clear();
            _count = 0;
            _lookups.Clear();
            _unknownUntil.Clear();
        }
    }

    private static void CheckTenant(string tenant)
    {
        if (tenant is null)
        {
            throw new ArgumentNullException(nameof(tenant));
        }

        if (tenant.Length == 0)
        {
            throw new ArgumentException("The m3ter tenant must not be empty.", nameof(tenant));
        }
    }

    private static M3terAuthException UnknownTenant(string tenant) =>
        new($"The m3ter tenant '{tenant}' is unknown: the credential source has no credentials for it, so no token was requested.") { IsPermanent = true };

    /// <summary>Marks the tenant used now: the least recently used tenant is the one with the lowest mark.</summary>
    private void Touch(TenantState state)
    {
        // Not atomic: two threads may write the same mark. The order of tenants used at the same moment does not matter.
        long mark = _clock.Value + 1;
        _clock.Value = mark;
        Volatile.Write(ref state.LastUse, mark);
    }

    private async Task<M3terToken> GetTokenSlowAsync(string tenant, CancellationToken cancellationToken) =>
        (await GetTokenAndStateAsync(tenant, cancellationToken).ConfigureAwait(false)).Token;

    /// <summary>
    /// A token of the tenant's held state, or of the one its credentials rotated to; with the state it came from, so
    /// the handler can check that the hosts it sends to are that state's.
    /// </summary>
    internal async Task<(M3terToken Token, TenantState State)> GetTokenAndStateAsync(string tenant, CancellationToken cancellationToken)
    {
        // A held tenant goes straight to its provider (lock-free while its token is valid, in a refresh window too).
        TenantState state = _held.TryGetValue(tenant, out TenantState? held) ? held : await GetStateAsync(tenant, cancellationToken).ConfigureAwait(false);
        try
        {
            return (await state.Provider.GetTokenAsync(cancellationToken).ConfigureAwait(false), state);
        }
        catch (M3terAuthException refused) when (refused.IsCredentialRejection)
        {
            // m3ter refused these credentials: the customer may have rotated the key. Ask the source once (for all
            // callers the refusal reached) before failing; new credentials there are used at once.
            TenantState? renewed = await RecheckAsync(state, cancellationToken).ConfigureAwait(false);
            if (renewed is null)
            {
                throw new M3terAuthException($"m3ter refused the credentials of tenant '{tenant}' (and the credential source has no others): {refused.Message}", refused.StatusCode, refused.Error, refused.ErrorDescription, refused.InnerException);
            }

            return (await renewed.Provider.GetTokenAsync(cancellationToken).ConfigureAwait(false), renewed);
        }
    }

    /// <summary>
    /// A token of the tenant for the hosts of <paramref name="hosts"/>: the handler's renewal of a request it sent to
    /// those hosts. If the tenant's credentials have moved to another server meanwhile, their token is not for these
    /// hosts, and the request is not sent again.
    /// </summary>
    internal async Task<M3terToken> GetTokenForHostsOfAsync(TenantState hosts, CancellationToken cancellationToken)
    {
        (M3terToken token, TenantState used) = await GetTokenAndStateAsync(hosts.Tenant, cancellationToken).ConfigureAwait(false);
        if (!ReferenceEquals(used, hosts) && !used.HasSameHostsAs(hosts))
        {
            throw new M3terAuthException($"The credentials of m3ter tenant '{hosts.Tenant}' now belong to another server ({used.Provider.Options.BaseAddress}), so the request for {hosts.Provider.Options.BaseAddress} was not sent with them.") { ForOtherHosts = true };
        }

        return token;
    }

    /// <summary>Asks the source again after a refusal; returns the state with new credentials, or null when it has none.</summary>
    private async Task<TenantState?> RecheckAsync(TenantState state, CancellationToken cancellationToken)
    {
        Task<TenantState?> recheck;
        lock (_gate)
        {
            if (_held.TryGetValue(state.Tenant, out TenantState? current) && !ReferenceEquals(current, state))
            {
                return current; // another caller's recheck (or a lookup after Forget) already replaced it
            }

            long now = _timeProvider.GetUtcNow().UtcTicks;
            // A recheck that failed (the source threw, or gave invalid credentials) is not kept: the next caller asks again.
            if (state.Recheck is not Task<TenantState?> running
                || running.IsFaulted
                || (running.IsCompleted && now - state.RecheckedAtTicks >= _options.RejectedCredentialsCacheDuration.Ticks))
            {
                state.RecheckedAtTicks = now;
                running = DetachedContext.Run(static s => Task.Run(() => s.Cache.RecheckCoreAsync(s.State)), (Cache: this, State: state));
                ObserveFailure(running);
                state.Recheck = running;
            }

            recheck = running;
        }

        try
        {
            return await recheck.WaitForAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (M3terAuthException shared) when (recheck.IsFaulted)
        {
            throw shared.ForCaller();
        }
    }

    private async Task<TenantState?> RecheckCoreAsync(TenantState state)
    {
        M3terCredentials? credentials;
        try
        {
            credentials = await _source(state.Tenant, _disposed.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && _disposed.IsCancellationRequested))
        {
            M3terAuthDiagnostics.RecordTenantLookup("failed");
            Log.TenantLookupFailed(_logger, state.Tenant, ex.GetType().Name);
            throw SourceFailed(state.Tenant, ex);
        }

        if (credentials is null || credentials.IsSameAs(state.Credentials))
        {
            M3terAuthDiagnostics.RecordTenantLookup(credentials is null ? "unknown" : "unchanged");
            return null;
        }

        TenantState renewed = Create(state.Tenant, credentials);
        lock (_gate)
        {
            if (_isDisposed)
            {
                renewed.Provider.Dispose();
                throw new ObjectDisposedException(nameof(IM3terTenantTokenProvider));
            }

            if (!_held.TryGetValue(state.Tenant, out TenantState? current) || !ReferenceEquals(current, state))
            {
                // Dropped or replaced meanwhile: serve the callers waiting on this recheck, hold nothing.
                renewed.Provider.Retire();
                return renewed;
            }

            _held[state.Tenant] = renewed;
            renewed.LastUse = state.LastUse;
            renewed.SeenUse = state.LastUse;
            renewed.IsHeld = true;
            state.IsHeld = false;
            state.Provider.Retire();
        }

        M3terAuthDiagnostics.RecordTenantLookup("rotated");
        Log.TenantCredentialsRotated(_logger, state.Tenant);
        return renewed;
    }

    private async Task LookUpAsync(string tenant, Lookup lookup)
    {
        TaskCompletionSource<TenantState> completion = lookup.Completion;
        M3terCredentials? credentials;
        try
        {
            credentials = await _source(tenant, _disposed.Token).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // The source's failure is handed to the callers waiting on the lookup.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Finish(tenant, lookup);
            M3terAuthDiagnostics.RecordTenantLookup("failed");
            Log.TenantLookupFailed(_logger, tenant, ex.GetType().Name);
            completion.TrySetException(ex is OperationCanceledException && _disposed.IsCancellationRequested
                ? new ObjectDisposedException(nameof(IM3terTenantTokenProvider))
                : SourceFailed(tenant, ex));
            return;
        }

        if (credentials is null)
        {
            lock (_gate)
            {
                if (Finish(tenant, lookup) && _options.UnknownTenantCacheDuration > TimeSpan.Zero)
                {
                    RememberUnknown(tenant);
                }
            }

            M3terAuthDiagnostics.RecordTenantLookup("unknown");
            completion.TrySetException(UnknownTenant(tenant));
            return;
        }

        TenantState state;
        try
        {
            state = Create(tenant, credentials);
        }
        catch (M3terAuthException invalid)
        {
            Finish(tenant, lookup);
            M3terAuthDiagnostics.RecordTenantLookup("invalid");
            completion.TrySetException(invalid);
            return;
        }

        lock (_gate)
        {
            if (_isDisposed)
            {
                state.Provider.Dispose(); // nothing may request a token after disposal
                completion.TrySetException(new ObjectDisposedException(nameof(IM3terTenantTokenProvider)));
                return;
            }

            if (!Finish(tenant, lookup))
            {
                state.Provider.Retire(); // forgotten (or abandoned) while it ran: answer the waiting callers, hold nothing
            }
            else
            {
                Hold(state);
            }
        }

        M3terAuthDiagnostics.RecordTenantLookup("found");
        completion.TrySetResult(state);
    }

    private static M3terAuthException SourceFailed(string tenant, Exception exception) =>
        new($"The credential source failed to look up m3ter tenant '{tenant}' ({exception.GetType().Name}; see the inner exception), so no token was requested.", exception);

    /// <summary>A failure nobody waits for any more (its callers gave up) is not an unobserved task exception.</summary>
    private static void ObserveFailure(Task task) =>
        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>Ends a lookup; true when it was still the tenant's current one (not forgotten or abandoned meanwhile).</summary>
    private bool Finish(string tenant, Lookup lookup)
    {
        lock (_gate)
        {
            if (_lookups.TryGetValue(tenant, out Lookup? current) && ReferenceEquals(current, lookup))
            {
                _lookups.Remove(tenant);
                return true;
            }

            return false;
        }
    }

    private TenantState Create(string tenant, M3terCredentials credentials)
    {
        M3terAuthOptions options = _options.ToAuthOptions(credentials);
        List<string> errors = M3terAuthOptionsValidator.Collect(options, nameof(M3terCredentials));
        if (errors.Count > 0)
        {
            throw new M3terAuthException($"The credentials the source gave for m3ter tenant '{tenant}' are not valid, so no token was requested: " + string.Join(" ", errors));
        }

        return new TenantState(tenant, credentials, _createProvider(options), this, _timeProvider.GetUtcNow().UtcTicks);
    }

    /// <summary>Holds a looked-up tenant (under <c>_gate</c>), making room by dropping the least recently used ones.</summary>
    private void Hold(TenantState state)
    {
        Touch(state);
        state.SeenUse = state.LastUse;
        _held[state.Tenant] = state;
        state.IsHeld = true;
        _count++;
        M3terAuthDiagnostics.TenantsHeld.Add(1);
        while (_count > _options.MaxTenants && LeastRecentlyUsed(state) is TenantState oldest)
        {
            Drop(oldest, "capacity");
        }
    }

    private TenantState? LeastRecentlyUsed(TenantState except)
    {
        TenantState? oldest = null;
        foreach (KeyValuePair<string, TenantState> pair in _held)
        {
            TenantState candidate = pair.Value;
            if (!ReferenceEquals(candidate, except) && (oldest is null || Volatile.Read(ref candidate.LastUse) < Volatile.Read(ref oldest.LastUse)))
            {
                oldest = candidate;
            }
        }

        return oldest;
    }

    /// <summary>Stops holding a tenant (under <c>_gate</c>). Its provider is retired, not disposed: a call in flight still gets its token.</summary>
    private void Drop(TenantState state, string reason)
    {
        if (_held.TryGetValue(state.Tenant, out TenantState? current) && ReferenceEquals(current, state))
        {
            _held.TryRemove(state.Tenant, out _);
            state.IsHeld = false;
            _count--;
            M3terAuthDiagnostics.TenantsHeld.Add(-1);
            M3terAuthDiagnostics.TenantEvictions.Add(1, new KeyValuePair<string, object?>("reason", reason));
            Log.TenantDropped(_logger, state.Tenant, reason);
        }

        state.Provider.Retire();
    }

    /// <summary>Remembers an unknown tenant (under <c>_gate</c>), in a map no larger than the tenants held.</summary>
    private void RememberUnknown(string tenant)
    {
        long now = _timeProvider.GetUtcNow().UtcTicks;
        if (_unknownUntil.Count >= _options.MaxTenants)
        {
            PruneUnknown(now);
            if (_unknownUntil.Count >= _options.MaxTenants)
            {
                _unknownUntil.Clear();
            }
        }

        _unknownUntil[tenant] = now + Math.Min(_options.UnknownTenantCacheDuration.Ticks, DateTimeOffset.MaxValue.UtcTicks - now);
    }

    private void PruneUnknown(long now)
    {
        List<string>? expired = null;
        foreach (KeyValuePair<string, long> pair in _unknownUntil)
        {
            if (now >= pair.Value)
            {
                (expired ??= new List<string>()).Add(pair.Key);
            }
        }

        if (expired is not null)
        {
            foreach (string tenant in expired)
            {
                _unknownUntil.Remove(tenant);
            }
        }
    }

    /// <summary>
    /// Drops the tenants unused for the idle timeout. A tenant used since the previous sweep counts as idle from that
    /// sweep on, so it is dropped within one sweep period (a thirtieth of the timeout) of the timeout after its last
    /// use, without the warm path ever reading the clock.
    /// </summary>
    private void Sweep()
    {
        lock (_gate)
        {
            if (_isDisposed)
            {
                return;
            }

            long now = _timeProvider.GetUtcNow().UtcTicks;
            foreach (KeyValuePair<string, TenantState> pair in _held)
            {
                TenantState state = pair.Value;
                long use = Volatile.Read(ref state.LastUse);
                if (use != state.SeenUse)
                {
                    state.SeenUse = use;
                    state.IdleSinceTicks = Math.Max(state.IdleSinceTicks, _lastSweepTicks);
                }
                else if (now - state.IdleSinceTicks >= _idleTicks)
                {
                    Drop(state, "idle");
                }
            }

            _lastSweepTicks = now;
            PruneUnknown(now);
        }
    }

    /// <summary>A lookup in flight: what its callers wait on, and how many still do (under <c>_gate</c>).</summary>
    private sealed class Lookup
    {
        public Lookup() => ObserveFailure(Completion.Task);

        public TaskCompletionSource<TenantState> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Waiters;
    }

    /// <summary>The use clock, on a cache line of its own so that its writes do not slow the reads of the fields around it.</summary>
    private sealed class UseClock
    {
#pragma warning disable CS0169, IDE0051 // padding
        private readonly long _p1, _p2, _p3, _p4, _p5, _p6, _p7;
#pragma warning restore CS0169, IDE0051
        public long Value;
#pragma warning disable CS0169, IDE0051
        private readonly long _q1, _q2, _q3, _q4, _q5, _q6, _q7;
#pragma warning restore CS0169, IDE0051
    }
}
