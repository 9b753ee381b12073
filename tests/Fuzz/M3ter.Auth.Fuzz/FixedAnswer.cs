using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth.Fuzz;

/// <summary>
/// A token endpoint in memory that answers every request with the same status, content type and bytes: the fuzz
/// target's, and the unit tests' (which compile this file too).
/// </summary>
internal sealed class FixedAnswer(HttpStatusCode status, string? contentType, byte[] body) : HttpMessageHandler
{
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
