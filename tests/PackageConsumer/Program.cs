using M3ter.Auth;
using M3ter.Auth.Testing;
using Microsoft.Extensions.DependencyInjection;

await using var m3ter = await M3terEmulator.StartAsync();
var services = new ServiceCollection();
services.AddM3terAuth(m3ter.Configure);
services.AddHttpClient("m3ter", c => c.BaseAddress = m3ter.BaseAddress).AddM3terAuthHandler();
await using var provider = services.BuildServiceProvider();

HttpClient client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("m3ter");
using HttpResponseMessage first = await client.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}", UriKind.Relative));
using HttpResponseMessage second = await client.GetAsync(new Uri($"organizations/{m3ter.OrganizationId}/products", UriKind.Relative));
string version = typeof(ITokenProvider).Assembly.GetName().Version!.ToString();

Console.WriteLine($"package consumer: {(int)first.StatusCode}/{(int)second.StatusCode}, {m3ter.TokenRequestCount} token request(s), M3ter.Auth {version}");
return first.IsSuccessStatusCode && second.IsSuccessStatusCode && m3ter.TokenRequestCount == 1 ? 0 : 1;
