using System;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M3ter.Auth.Internal;

/// <summary>
/// One named registration made by <c>AddM3terAuth</c>: the token provider built from the current options, rebuilt
/// when <see cref="IOptionsMonitor{TOptions}"/> reports that those options changed, so rotated credentials and a new
/// base address take effect without a restart. The cached token is carried over unless it cannot serve the new
/// options (see <see cref="OnOptionsChanged"/>).
/// </summary>
internal sealed class M3terAuthRegistration : ITokenProvider, IDisposable, ITokenStatusSource
{
    private readonly string _name;
    private readonly TokenProviderFactory _providers;
    private readonly ITokenClient? _tokenClient;
    private readonly RemainingLifetimeGauge? _gauge;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly IDisposable? _subscription;
    private readonly object _reloading = new();
    private Current _current;
    private bool _disposed; // under _reloading: a reload that arrives after Dispose (or races it) builds nothing

    /// <param name="name">The registration's name.</param>
    /// <param name="optionsMonitor">Its options, and their reloads.</param>
    /// <param name="providers">Builds its provider, at the start and at each reload.</param>
    /// <param name="gauge">The container's remaining-lifetime gauge, which reports this registration's token until it is disposed; none when null.</param>
    public M3terAuthRegistration(string name, IOptionsMonitor<M3terAuthOptions> optionsMonitor, TokenProviderFactory providers, RemainingLifetimeGauge? gauge = null)
    {
        _name = name;
        _providers = providers;
        _tokenClient = providers.TokenClientFor(name); // the application's own, if it registered one: every provider of this registration uses it
        _timeProvider = providers.TimeProvider;
        _logger = providers.ProviderLogger;
        _current = Build(optionsMonitor.Get(name));
        _subscription = optionsMonitor.OnChange(OnOptionsChanged);
        _gauge = gauge;
        _gauge?.Track(this);
    }

    /// <summary>Gets the registration's name for telemetry and logs: <c>(default)</c> for the default one.</summary>
    public string DisplayName => _name.Length == 0 ? "(default)" : _name;

    /// <summary>How long the cached token has left (zero without a valid token), for the remaining-lifetime gauge.</summary>
    public TimeSpan RemainingLifetime()
    {
        M3terToken? token = Volatile.Read(ref _current).Provider.Replaceable().ValidToken(out _);
        if (token is null)
        {
            return TimeSpan.Zero;
        }

        TimeSpan left = token.ExpiresAt - _timeProvider.GetUtcNow();
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    /// <summary>Gets the hosts that get this registration's token.</summary>
    public HostScope Scope => Volatile.Read(ref _current).Scope;

    /// <summary>Gets the provider and its hosts as one snapshot, so a reload between reading one and the other cannot pair a token with another server's hosts.</summary>
    internal AuthRoute Route => Volatile.Read(ref _current).Route;

    /// <summary>Gets the token provider in use now.</summary>
    internal TokenProvider Provider => Volatile.Read(ref _current).Provider;

    public ValueTask<M3terToken> GetTokenAsync(CancellationToken cancellationToken = default) =>
        Volatile.Read(ref _current).Provider.GetTokenAsync(cancellationToken);

    public void Invalidate(M3terToken token) => Volatile.Read(ref _current).Provider.Invalidate(token);

    public TokenStatus GetStatus() => Volatile.Read(ref _current).Provider.Status();

    /// <summary>Gets the options in use now.</summary>
    public M3terAuthOptions Options => Volatile.Read(ref _current).Provider.Replaceable().Options;

    public void Dispose()
    {
        _gauge?.Untrack(this);
        _subscription?.Dispose();

        // Under the reload lock: a change notification already on its way (the options monitor calls its listeners
        // from a snapshot, so one can run after the subscription is gone) either finished before, and its provider is
        // the one disposed here, or runs after and finds the registration disposed.
        lock (_reloading)
        {
            _disposed = true;
            Volatile.Read(ref _current).Provider.Dispose();
        }
    }

    private void OnOptionsChanged(M3terAuthOptions options, string? name)
    {
        if (!string.Equals(name ?? Microsoft.Extensions.Options.Options.DefaultName, _name, StringComparison.Ordinal))
        {
            return;
        }

        lock (_reloading)
        {
            if (_disposed)
            {
                return;
            }

            Current current = Volatile.Read(ref _current);
            M3terAuthOptions before = current.Provider.Replaceable().Options;
            if (before.IsEquivalentTo(options))
            {
                return;
            }

            // A token is tied to the server that issued it and to the credentials that obtained it, nothing else:
            // other settings (organization, retries, warm-up, refresh timing) keep it. New credentials keep it too,
            // but only until they have produced a token of their own, which is requested at once. So a rotation that
            // arrives in two reloads (key, then secret) fails no call in between, and once the new credentials work
            // the old token is never served again. A token still carried over from an earlier rotation (the new
            // credentials have not produced one yet) stays due for replacement, whatever else this reload changes.
            Current next = Build(options);
            string effect;
            if (!before.SharesTokensWith(options) || current.Provider.Replaceable().ValidToken(out bool foreign) is not M3terToken valid)
            {
                effect = "the next request fetches a token with the new settings";
            }
            else if (before.HasSameCredentials(options) && !foreign)
            {
                next.Provider.Replaceable().Adopt(valid, refreshNow: false);
                effect = "the cached token stays in use";
            }
            else
            {
                next.Provider.Replaceable().Adopt(valid, refreshNow: true);
                effect = "the cached token is served until the new credentials have produced a token, which is being requested now";
            }

            // The old provider is retired, not disposed: callers already waiting on its request still get their token.
            Volatile.Write(ref _current, next);
            current.Provider.Replaceable().Retire(next.Provider);
            Log.OptionsChanged(_logger, DisplayName, effect);
        }
    }

    private Current Build(M3terAuthOptions options)
    {
        TokenProvider provider = _providers.Create(options, _tokenClient);
        return new Current(provider, new HostScope(provider.Replaceable().Options));
    }

    private sealed class Current(TokenProvider provider, HostScope scope)
    {
        public TokenProvider Provider { get; } = provider;

        public HostScope Scope { get; } = scope;

        public AuthRoute Route { get; } = new(scope, provider);
    }
}
