using System;
using System.Net.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Polly;

namespace M3ter.Auth.Internal;

/// <summary>
/// Builds the token providers of a container: one per registration (again at each reload) and one per tenant. The
/// pieces every provider shares (the clock, the loggers, the fleet cache, the token endpoint's pooled HttpClient) are
/// resolved once, so a provider costs its own objects and nothing more. Registered with <c>TryAdd</c>: a test (or
/// another package) can put its own in first.
/// </summary>
internal sealed class TokenProviderFactory
{
    private readonly IServiceProvider _services;
    private readonly IHttpClientFactory _httpClients;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _clientLogger;
    private readonly ILogger _providerLogger;
    private readonly ISharedTokenCache? _sharedCache;

    public TokenProviderFactory(IServiceProvider services, IHttpClientFactory httpClients, TimeProvider timeProvider, ILoggerFactory loggerFactory)
    {
        _services = services;
        _httpClients = httpClients;
        _timeProvider = timeProvider;
        _clientLogger = loggerFactory.CreateLogger<TokenClient>();
        _providerLogger = loggerFactory.CreateLogger<TokenProvider>();
        _sharedCache = services.GetService<ISharedTokenCache>();
    }

    /// <summary>Gets the clock every provider of the container runs on.</summary>
    public TimeProvider TimeProvider => _timeProvider;

    /// <summary>Gets the logger of the providers (a registration logs its reloads there too).</summary>
    public ILogger ProviderLogger => _providerLogger;

    /// <summary>
    /// The token client the application registered for <paramref name="registrationName"/>, or null for the built-in
    /// one: an <see cref="ITokenClient"/> keyed with the registration's name, or, for the default registration, one
    /// registered without a key.
    /// </summary>
    public ITokenClient? TokenClientFor(string registrationName) =>
        _services.GetKeyedService<ITokenClient>(registrationName)
        ?? (registrationName.Length == 0 ? _services.GetService<ITokenClient>() : null);

    /// <summary>A pipeline for the token settings of <paramref name="options"/>, to share among the providers that have the same ones.</summary>
    public ResiliencePipeline<TokenAttempt> BuildPipeline(M3terAuthOptions options) =>
        TokenClient.BuildPipeline(options, _timeProvider, _clientLogger);

    /// <summary>
    /// A provider for <paramref name="options"/>. Its token client is the built-in one, over <paramref name="pipeline"/>
    /// when given (else one built for these options), with the fleet cache if one is registered; or
    /// <paramref name="tokenClient"/>, the application's own, unless the options hold a pre-issued token (which is
    /// served as it is, as without a client of one's own). An application's client gets no fleet cache: the cache is
    /// keyed by the credentials in the options, and nothing says that the client's tokens are theirs, so two
    /// registrations with clients of their own could otherwise be served each other's tokens.
    /// </summary>
    public TokenProvider Create(M3terAuthOptions options, ITokenClient? tokenClient = null, ResiliencePipeline<TokenAttempt>? pipeline = null)
    {
        if (tokenClient is not null && string.IsNullOrWhiteSpace(options.AccessToken))
        {
            return new TokenProvider(tokenClient, options, _timeProvider, _providerLogger, sharedCache: null);
        }

        var client = new TokenClient(() => _httpClients.CreateClient(TokenClient.HttpClientName), options, _timeProvider, _clientLogger, pipeline);
        return new TokenProvider(client, options, _timeProvider, _providerLogger, _sharedCache);
    }
}
