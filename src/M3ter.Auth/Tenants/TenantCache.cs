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
internal sealed partial class TenantCache : IM3terTenantTokenProvider, IDisposable
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
            throw new M3terAuthException($"The credentials of m3ter tenant '{hosts.Tenant}' now belong to another server ({used.Options.BaseAddress}), so the request for {hosts.Options.BaseAddress} was not sent with them.") { ForOtherHosts = true };
        }

        return token;
    }
}
