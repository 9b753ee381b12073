using System;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth.Tests.Properties;

/// <summary>A token endpoint in memory that answers every request with the same status, content type and bytes.</summary>
internal sealed class StubTokenEndpoint(HttpStatusCode status, string? contentType, byte[] body) : HttpMessageHandler
{
    public static StubTokenEndpoint Token() =>
        new(HttpStatusCode.OK, "application/json", "{\"access_token\":\"property-token\",\"token_type\":\"Bearer\",\"expires_in\":3600}"u8.ToArray());

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var content = new ByteArrayContent(body);
        if (contentType is not null)
        {
            content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        return Task.FromResult(new HttpResponseMessage(status) { Content = content, RequestMessage = request });
    }
}
