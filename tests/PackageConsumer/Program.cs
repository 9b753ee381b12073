using M3ter.Auth;
using M3ter.Auth.Testing;
using Microsoft.Extensions.DependencyInjection;

// A consumer of the packed packages, built outside the repository. With a Redis configuration as its argument, two
// containers (two "processes" of a fleet) share one token through M3ter.Auth.StackExchangeRedis, on the dependency
// floor the package declares (StackExchange.Redis 2.7.27).
string? redis = args.Length > 0 ? args[0] : null;
await using var m3ter = await M3terEmulator.StartAsync();

async Task<(int First, int Second)> RunMemberAsync()
{
    var services = new ServiceCollection();
    services.AddM3terAuth(m3ter.Configure);
    if (redis is not null)
    {
        services.AddM3terAuthRedisTokenCache(o => o.Configuration = redis);
    }

    services.AddHttpClient("m3ter", c => c.BaseAddress = m3ter.BaseAddress).AddM3terAuthHandler();
    await using var provider = services.BuildServiceProvider();
    HttpClient client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter");
    using HttpResponseMessage first = await client.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}", UriKind.Relative));
    using HttpResponseMessage second = await client.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/products", UriKind.Relative));
    return ((int)first.StatusCode, (int)second.StatusCode);
}

var one = await RunMemberAsync();
var two = redis is null ? one : await RunMemberAsync();
string version = typeof(ITokenProvider).Assembly.GetName().Version!.ToString();
string redisVersion = typeof(StackExchange.Redis.IConnectionMultiplexer).Assembly.GetName().Version!.ToString();
bool ok = one == (200, 200) && two == (200, 200) && m3ter.TokenRequestCount == 1;
Console.WriteLine($"package consumer: {one.First}/{one.Second}{(redis is null ? "" : $" and {two.First}/{two.Second} (shared through Redis, StackExchange.Redis {redisVersion})")}, {m3ter.TokenRequestCount} token request(s), M3ter.Auth {version}");
return ok ? 0 : 1;
