using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace M3ter.Auth.StackExchangeRedis.Tests;

/// <summary>Credentials chosen per tenant share their tokens across a fleet through Redis, each tenant under its own credentials.</summary>
public sealed class TenantFleetTests
{

    private static string KeyOf(string basic)
    {
        string pair = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(basic["Basic ".Length..]));
        return pair[..pair.IndexOf(':')];
    }

    [RedisFact]
    public async Task SeveralContainers_ColdTogether_MakeAtMostTwoTokenRequestsPerTenant()
    {
        const int Containers = 6, Tenants = 4;
        await using RedisServer redis = await RedisServer.StartAsync();
        await using M3terEmulator m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });
        var store = new Dictionary<string, M3terCredentials>(StringComparer.Ordinal);
        for (int t = 0; t < Tenants; t++)
        {
            m3ter.AddCredentials("key-" + t, "secret-" + t, "org-" + t);
            store["tenant-" + t] = new M3terCredentials("key-" + t, "secret-" + t) { OrganizationId = "org-" + t, BaseAddress = m3ter.BaseAddress, IngestBaseAddress = m3ter.IngestBaseAddress };
        }

        var containers = new List<ServiceProvider>();
        for (int c = 0; c < Containers; c++)
        {
            var services = new ServiceCollection();
            services.AddM3terAuthTenants((tenant, _) => new ValueTask<M3terCredentials?>(store.GetValueOrDefault(tenant)), o => o.RetryDelay = TimeSpan.FromMilliseconds(20));
            services.AddM3terAuthRedisTokenCache(o => o.Configuration = redis.Configuration);
            services.AddHttpClient("m3ter").AddM3terTenantAuthHandler();
            containers.Add(services.BuildServiceProvider());
        }

        try
        {
            using var start = new ManualResetEventSlim();
            Task<HttpResponseMessage>[] calls = containers.SelectMany(sp => Enumerable.Range(0, Tenants).Select(t => Task.Run(() =>
            {
                start.Wait();
                HttpClient client = sp.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter");
                return client.SendAsync(new HttpRequestMessage(HttpMethod.Get, new Uri(m3ter.BaseAddress, $"organizations/org-{t}/products")).WithM3terTenant("tenant-" + t));
            }))).ToArray();
            start.Set();
            HttpResponseMessage[] responses = await Task.WhenAll(calls);

            Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
            Dictionary<string, int> perKey = m3ter.Requests.Where(r => r.Kind == M3terRequestKind.Token)
                .GroupBy(r => KeyOf(r.Authorization!))
                .ToDictionary(g => g.Key, g => g.Count());
            Assert.Equal(Tenants, perKey.Count);
            Assert.All(perKey, pair => Assert.True(pair.Value <= 2, $"{pair.Value} token requests with {pair.Key} from {Containers} containers"));
        }
        finally
        {
            foreach (ServiceProvider sp in containers)
            {
                await sp.DisposeAsync();
            }
        }
    }
}
