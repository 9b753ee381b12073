using System;
using System.Collections.Concurrent;
using System.IO;
using System.IO.Compression;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Time.Testing;

namespace M3ter.Auth.Tests;

/// <summary>A handler below the auth handler that rewrites the body (compression, signing) is not a redirect: refusals are still recovered.</summary>
public sealed class HandlerRewritingInnerHandlerTests
{
    private readonly FakeTimeProvider _time = TestOptions.Clock();

    /// <summary>An ordinary handler added after AddM3terAuthHandler(): gzips request bodies (m3ter ingest payloads).</summary>
    private sealed class GzipRequestHandler : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Content is HttpContent original && original.Headers.ContentEncoding.Count == 0)
            {
                byte[] plain = await original.ReadAsByteArrayAsync(cancellationToken);
                using var buffer = new MemoryStream();
                using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
                {
                    gzip.Write(plain);
                }

                var compressed = new ByteArrayContent(buffer.ToArray());
                compressed.Headers.ContentType = original.Headers.ContentType;
                compressed.Headers.ContentEncoding.Add("gzip");
                request.Content = compressed;
            }

            return await base.SendAsync(request, cancellationToken);
        }
    }

    // The "replay only as sent" check compares the request's Content (and RequestUri) by reference. Any handler below
    // the auth handler that rewrites them (request compression, signing, adding a query parameter) makes every 401/403
    // from m3ter final: an expired or revoked token is never replaced by a replay, though nothing was redirected.
    [Fact]
    public async Task SendAsync_InnerHandlerRewritesTheBody_ExpiredTokenIsStillReplacedAndReplayed()
    {
        var tokens = new FakeTokenClient(_time);
        using var provider = new TokenProvider(tokens, TestOptions.Create(), _time);
        var seen = new ConcurrentQueue<string?>();
        var m3ter = new DelegateHandler((request, _) =>
        {
            string? auth = request.Headers.Authorization?.Parameter;
            seen.Enqueue(auth);
            return Task.FromResult(new HttpResponseMessage(auth == "token-1" ? HttpStatusCode.Forbidden : HttpStatusCode.OK));
        });
        using var client = new HttpClient(new M3terAuthHandler(provider, TestOptions.Create(), timeProvider: _time)
        {
            InnerHandler = new GzipRequestHandler { InnerHandler = m3ter },
        });

        using HttpResponseMessage response = await client.PostAsync(
            new Uri("https://ingest.m3ter.com/organizations/org-1/measurements"),
            new StringContent("{\"measurements\":[]}"));

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}; m3ter saw tokens: {string.Join(", ", seen)}");
    }
}
