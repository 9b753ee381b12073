using System;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M3ter.Auth.Internal;

/// <summary>
/// One named registration made by <c>AddM3terAuth</c>: the token provider built from the current options, rebuilt
/// (dropping the cached token) when <see cref="IOptionsMonitor{TOptions}"/> reports that those options changed, so
/// rotated credentials and a new base address take effect without a restart.
/// </summary>
internal sealed class M3terAuthRegistration : ITokenProvider, IDisposable, ITokenStatusSource
{
    private readonly string _name;
    private readonly IHttpClientFactory _httpClientFactory;
    private readonly TimeProvider _timeProvider;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly IDisposable? _subscription;
    private Current _current;

    public M3terAuthRegistration(string name, IOptionsMonitor<M3terAuthOptions> optionsMonitor, IHttpClientFactory httpClientFactory, TimeProvider timeProvider, ILoggerFactory loggerFactory)
    {
        _name = name;
        _httpClientFactory = httpClientFactory;
        _timeProvider = timeProvider;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<TokenProvider>();
        _current = Build(optionsMonitor.Get(name));
        _subscription = optionsMonitor.OnChange(OnOptionsChanged);
    }

    /// <summary>Gets the hosts that get this registration's token.</summary>
    public HostScope Scope => Volatile.Read(ref _current).Scope;

    /// <summary>Gets the token provider in use now.</summary>
    internal TokenProvider Provider => Volatile.Read(ref _current).Provider;

    public ValueTask<M3terToken> GetTokenAsync(CancellationToken cancellationToken = default) =>
        Volatile.Read(ref _current).Provider.GetTokenAsync(cancellationToken);

    public void Invalidate(M3terToken token) => Volatile.Read(ref _current).Provider.Invalidate(token);

    public TokenStatus GetStatus() => Volatile.Read(ref _current).Provider.GetStatus();

    /// <summary>Gets the options in use now.</summary>
    public M3terAuthOptions Options => Volatile.Read(ref _current).Provider.Options;

    public void Dispose()
    {
        _subscription?.Dispose();
        Volatile.Read(ref _current).Provider.Dispose();
    }

    private void OnOptionsChanged(M3terAuthOptions options, string? name)
    {
        if (!string.Equals(name ?? Microsoft.Extensions.Options.Options.DefaultName, _name, StringComparison.Ordinal))
        {
            return;
        }

        Current current = Volatile.Read(ref _current);
        if (current.Provider.Options.IsEquivalentTo(options))
        {
            return;
        }

        // The old provider is retired, not disposed: callers already waiting on its request still get their token.
        Volatile.Write(ref _current, Build(options));
        current.Provider.Retire();
        Log.OptionsChanged(_logger, _name.Length == 0 ? "(default)" : _name);
    }

    private Current Build(M3terAuthOptions options)
    {
        var client = new TokenClient(() => _httpClientFactory.CreateClient(TokenClient.HttpClientName), options, _timeProvider, _loggerFactory.CreateLogger<TokenClient>());
        var provider = new TokenProvider(client, options, _timeProvider, _logger);
        return new Current(provider, new HostScope(provider.Options));
    }

    private sealed class Current(TokenProvider provider, HostScope scope)
    {
        public TokenProvider Provider { get; } = provider;

        public HostScope Scope { get; } = scope;
    }
}
