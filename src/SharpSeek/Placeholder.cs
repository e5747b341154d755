namespace SharpSeek; public static class Placeholder {}
