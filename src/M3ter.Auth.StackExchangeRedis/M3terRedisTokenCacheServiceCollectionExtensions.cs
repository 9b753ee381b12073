using System;
using M3ter.Auth;
using M3ter.Auth.StackExchangeRedis;
using M3ter.Auth.StackExchangeRedis.Internal;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Redis token cache that a fleet of processes shares.</summary>
public static class M3terRedisTokenCacheServiceCollectionExtensions
{
    /// <summary>
    /// Makes every m3ter registration (<c>AddM3terAuth</c>, default and named) share its tokens through Redis, so a
    /// fleet makes one token request per token lifetime between its processes.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets <see cref="M3terRedisTokenCacheOptions.Configuration"/> or <see cref="M3terRedisTokenCacheOptions.ConnectionMultiplexerFactory"/>, and optionally the timeouts.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="configure"/> is null.</exception>
    /// <remarks>The options are validated when the host starts. With a host, the connection opens while it starts (bounded by <see cref="M3terRedisTokenCacheOptions.ConnectTimeout"/>); without one, when a token is first needed.</remarks>
    public static IServiceCollection AddM3terAuthRedisTokenCache(this IServiceCollection services, Action<M3terRedisTokenCacheOptions> configure)
    {
        if (services is null)
        {
            throw new ArgumentNullException(nameof(services));
        }

        if (configure is null)
        {
            throw new ArgumentNullException(nameof(configure));
        }

        services.AddOptions<M3terRedisTokenCacheOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<M3terRedisTokenCacheOptions>, M3terRedisTokenCacheOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddLogging();
        services.TryAddSingleton<ISharedTokenCache>(static sp => new M3terRedisTokenCache(
            sp.GetRequiredService<IOptions<M3terRedisTokenCacheOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<M3terRedisTokenCache>>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, M3terRedisConnectOnStartService>());
        return services;
    }
}
