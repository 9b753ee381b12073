using System;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;
using M3ter.Auth.Internal;

namespace M3ter.Auth.Benchmarks;

/// <summary>5. The token client: parsing a token response with Utf8JsonReader, and a whole token request in memory.</summary>
[MemoryDiagnoser]
public class TokenClientBenchmarks
{
    private static readonly byte[] Body = Encoding.UTF8.GetBytes(
        "{\"access_token\":\"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZXJ2aWNlLXVzZXIiLCJleHAiOjE4MDAwMDAwMDB9.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU\",\"token_type\":\"Bearer\",\"expires_in\":18000,\"scope\":null}");

    private TokenClient _client = null!;

    [GlobalSetup]
    public void Setup() =>
        _client = new TokenClient(new HttpClient(new TokenEndpointHandler()), BenchOptions.Create(), TimeProvider.System);

    [Benchmark(Baseline = true, Description = "parse token response (Utf8JsonReader)")]
    public string? Parse() => TokenResponse.Parse(Body, out _)?.AccessToken;

    [Benchmark(Description = "RequestTokenAsync, in-memory endpoint")]
    public Task<M3terToken> Request() => _client.RequestTokenAsync();

    private sealed class TokenEndpointHandler : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(Body) });
    }
}
