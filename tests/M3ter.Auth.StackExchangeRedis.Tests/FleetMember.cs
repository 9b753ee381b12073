using System;
using System.Net.Http;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace M3ter.Auth.StackExchangeRedis.Tests;

/// <summary>One process of a fleet, in-process: its own container, token client, HTTP pipeline and Redis connection.</summary>
internal sealed class FleetMember : IAsyncDisposable
{
    private FleetMember(ServiceProvider services)
    {
        Services = services;
        Api = services.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter");
        Tokens = services.GetRequiredService<ITokenProvider>();
    }

    public ServiceProvider Services { get; }

    public HttpClient Api { get; }

    public ITokenProvider Tokens { get; }

    public M3terRedisTokenCache? Cache => Services.GetService<ISharedTokenCache>() as M3terRedisTokenCache;

    public static FleetMember Create(M3terEmulator m3ter, string? redis, Action<M3terRedisTokenCacheOptions>? cache = null, Microsoft.Extensions.Logging.ILoggerProvider? logs = null, Action<M3terAuthOptions>? auth = null)
    {
        var services = new ServiceCollection();
        if (logs is not null)
        {
            services.AddLogging(b => b.SetMinimumLevel(Microsoft.Extensions.Logging.LogLevel.Trace).AddProvider(logs));
        }

        services.AddM3terAuth(o =>
        {
            m3ter.Configure(o);
            o.RetryDelay = TimeSpan.FromMilliseconds(20);
            auth?.Invoke(o);
        });
        if (redis is not null)
        {
            services.AddM3terAuthRedisTokenCache(o =>
            {
                o.Configuration = redis;
                cache?.Invoke(o);
            });
        }

        services.AddHttpClient("m3ter", c => c.BaseAddress = m3ter.BaseAddress).AddM3terAuthHandler();
        return new FleetMember(services.BuildServiceProvider());
    }

    public Task<HttpResponseMessage> CallAsync(M3terEmulator m3ter) =>
        Api.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/products", UriKind.Relative));

    public ValueTask DisposeAsync() => Services.DisposeAsync();
}
